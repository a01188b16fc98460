# Finicky Whiskers, an example Spin app behind whiskers + Traefik.
#
# Three copies of a Spin app (exec driver running `spin up`), one per node,
# registered as the Nomad service "finicky" whose traefik.* tags tell the
# syncer how to route it; and a Redis the app uses, registered as "redis"
# without routing tags, so it is never exposed.
#
# Requests for the app's host first go to the whiskers fileserver handler
# (static files from the wasm host); what it does not have (404) falls through
# to the Spin app. If the wasm host is down, requests go straight to the app.
#
# Run it:  nomad job run -var host=finicky.example.com deploy/nomad/finicky-whiskers.nomad.hcl

variable "datacenters" {
  description = "Datacenters the job runs in."
  type        = list(string)
  default     = ["*"]
}

variable "host" {
  description = "Host name Traefik routes to the app."
  type        = string
  default     = "finicky.localhost"
}

variable "spin_artifact" {
  description = "URL of a tar.gz holding the `spin` binary (go-getter syntax)."
  type        = string
  default     = "https://github.com/spinframework/spin/releases/download/v3.4.1/spin-v3.4.1-linux-amd64.tar.gz"
}

variable "app_reference" {
  description = "OCI reference of the Spin application (`spin up --from`)."
  type        = string
  default     = "ghcr.io/fermyon/finicky-whiskers:latest"
}

variable "health_path" {
  description = "Path of the app that Nomad's check and Traefik's health check probe; it must answer 2xx."
  type        = string
  default     = "/"
}

variable "redis_image" {
  description = "Redis image."
  type        = string
  default     = "redis:7-alpine"
}

job "finicky-whiskers" {
  type        = "service"
  datacenters = var.datacenters

  # Roll one copy at a time; a deployment whose new copies do not become
  # healthy reverts to the last good version.
  update {
    max_parallel      = 1
    min_healthy_time  = "10s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
    auto_revert       = true
  }

  group "finicky" {
    count = 3

    # One copy per node: spread over nodes, never two on the same one.
    spread {
      attribute = "${node.unique.id}"
    }

    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      port "http" {}
    }

    restart {
      attempts = 3
      interval = "2m"
      delay    = "5s"
      mode     = "delay"
    }

    service {
      name     = "finicky"
      provider = "nomad"
      port     = "http"

      # Read by `whiskers sync`, in the syntax of Traefik's Nomad provider.
      tags = [
        "traefik.enable=true",
        "traefik.http.routers.finicky.rule=Host(`${var.host}`)",
        "traefik.http.routers.finicky.entrypoints=web",
        "traefik.http.routers.finicky.middlewares=finicky-static",
        "traefik.http.services.finicky.loadbalancer.healthcheck.path=${var.health_path}",
        "traefik.http.services.finicky.loadbalancer.healthcheck.interval=10s",
        # The whiskers plugin (name "whiskers" in traefik.nomad.hcl) in front
        # of the app: static files from the wasm host, the rest to Spin.
        "traefik.http.middlewares.finicky-static.plugin.whiskers.handler=fileserver",
        "traefik.http.middlewares.finicky-static.plugin.whiskers.socket=unix:///run/whiskers/wasm.sock",
        "traefik.http.middlewares.finicky-static.plugin.whiskers.fallthroughStatus=404",
        "traefik.http.middlewares.finicky-static.plugin.whiskers.onHostDown=next",
      ]

      check {
        type     = "http"
        path     = var.health_path
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "spin" {
      driver = "exec"

      artifact {
        source      = var.spin_artifact
        destination = "local/bin"
      }

      config {
        command = "local/bin/spin"
        args = [
          "up",
          "--from", var.app_reference,
          "--listen", "${NOMAD_IP_http}:${NOMAD_PORT_http}",
        ]
      }

      # Where Redis is, from Nomad's service catalog; re-rendered (and the
      # app restarted) when Redis moves.
      template {
        destination = "local/redis.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{- range nomadService "redis" }}
          SPIN_VARIABLE_REDIS_ADDRESS=redis://{{ .Address }}:{{ .Port }}
          {{- end }}
        EOT
      }

      env {
        # Spin keeps its state and OCI cache inside the allocation.
        SPIN_DATA_DIR = "${NOMAD_TASK_DIR}/spin"
        HOME          = "${NOMAD_TASK_DIR}"
      }

      resources {
        cpu    = 250
        memory = 256
      }
    }
  }

  group "redis" {
    count = 1

    network {
      port "redis" {
        to = 6379
      }
    }

    # Registered so the app can find it; traefik.enable=false keeps it out of
    # Traefik even when the syncer runs with exposedByDefault.
    service {
      name     = "redis"
      provider = "nomad"
      port     = "redis"
      tags     = ["traefik.enable=false"]

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "redis" {
      driver = "docker"

      config {
        image = var.redis_image
        ports = ["redis"]
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
