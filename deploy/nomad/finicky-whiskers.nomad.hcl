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
#
# What runs is a variable, so that the same file runs elsewhere: app_driver,
# app_command and app_args replace `spin up` (the end-to-end tests run a small
# HTTP server with raw_exec), redis_driver/redis_command/redis_args replace
# the Redis image.

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
  description = "URL of a tar.gz holding the `spin` binary (go-getter syntax), unpacked into local/bin; \"\" for none."
  type        = string
  default     = "https://github.com/spinframework/spin/releases/download/v3.4.1/spin-v3.4.1-linux-amd64.tar.gz"
}

variable "app_reference" {
  description = "OCI reference of the Spin application (`spin up --from`)."
  type        = string
  default     = "ghcr.io/fermyon/finicky-whiskers:latest"
}

variable "app_driver" {
  description = "Task driver of the app."
  type        = string
  default     = "exec"
}

variable "app_command" {
  description = "Command the app's task runs."
  type        = string
  default     = "local/bin/spin"
}

variable "app_args" {
  description = "Arguments of app_command; empty means `up --from <app_reference> --listen <ip>:<port>`."
  type        = list(string)
  default     = []
}

variable "health_path" {
  description = "Path of the app that Nomad's check and Traefik's health check probe; it must answer 2xx."
  type        = string
  default     = "/"
}

variable "check_interval" {
  description = "Interval of Nomad's check and Traefik's health check of the app."
  type        = string
  default     = "10s"
}

variable "shutdown_delay" {
  description = "How long a stopping copy keeps serving after it left the catalog (Nomad's shutdown_delay): in-flight and already-routed requests finish. whiskers takes the copy out of Traefik when Nomad decides to stop it and retries connection errors on another copy, but without a delay Nomad kills the copy some 20 ms after the stop, before any proxy has reloaded, and the requests it is serving then fail (0.2-0.8 per stop on the benchmark cluster; 0 with a delay: docs/benchmarks.md)."
  type        = string
  default     = "5s"
}

variable "canaries" {
  description = "Canaries of a new version (update.canary): 0 rolls the new version out at once."
  type        = number
  default     = 0
}

variable "min_healthy_time" {
  description = "How long a new copy must pass its check to count as healthy (update.min_healthy_time)."
  type        = string
  default     = "10s"
}

variable "healthy_deadline" {
  description = "How long a new copy may take to become healthy before the deployment fails and reverts (update.healthy_deadline)."
  type        = string
  default     = "3m"
}

variable "progress_deadline" {
  description = "How long a deployment may go without a new healthy copy before it fails and reverts (update.progress_deadline); until then an unhealthy copy is rescheduled. \"0s\" fails the deployment at the first unhealthy copy."
  type        = string
  default     = "10m"
}

variable "redis_driver" {
  description = "Task driver of Redis."
  type        = string
  default     = "docker"
}

variable "redis_image" {
  description = "Redis image (docker driver)."
  type        = string
  default     = "redis:7-alpine"
}

variable "redis_command" {
  description = "Command of Redis with a driver other than docker."
  type        = string
  default     = "redis-server"
}

variable "redis_args" {
  description = "Arguments of redis_command; empty means `--bind <ip> --port <port>`."
  type        = list(string)
  default     = []
}

job "finicky-whiskers" {
  type        = "service"
  datacenters = var.datacenters

  # Roll one copy at a time; a deployment whose new copies do not become
  # healthy reverts to the last good version. With canaries, a new version
  # first runs that many copies beside the old ones, which whiskers gives a
  # share of the requests (whiskers.canary.weight, 10% by default) until
  # `nomad deployment promote`.
  update {
    max_parallel      = 1
    canary            = var.canaries
    min_healthy_time  = var.min_healthy_time
    healthy_deadline  = var.healthy_deadline
    progress_deadline = var.progress_deadline
    auto_revert       = true
  }

  group "finicky" {
    count = 3

    # One copy per node where there are enough nodes. Not distinct_hosts:
    # with three copies on three nodes, a canary or the copy of a drained
    # node would then have nowhere to go.
    spread {
      attribute = "${node.unique.id}"
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

    task "spin" {
      driver = var.app_driver

      # Nomad deregisters a stopping copy, waits this long, then stops it.
      # The service is the task's, not the group's: Nomad then also
      # deregisters it (and waits) before it restarts the task, as the
      # Redis template below does when Redis moves.
      shutdown_delay = var.shutdown_delay

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
          "traefik.http.services.finicky.loadbalancer.healthcheck.interval=${var.check_interval}",
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
          interval = var.check_interval
          timeout  = "2s"
        }
      }

      dynamic "artifact" {
        for_each = var.spin_artifact != "" ? [var.spin_artifact] : []
        content {
          source      = artifact.value
          destination = "local/bin"
        }
      }

      config {
        command = var.app_command
        args = length(var.app_args) > 0 ? var.app_args : [
          "up",
          "--from", var.app_reference,
          "--listen", "${NOMAD_IP_http}:${NOMAD_PORT_http}",
        ]
      }

      # Where Redis is, from Nomad's service catalog; re-rendered (and the
      # app restarted) when Redis moves. Every copy restarts then, each
      # within the template's splay (5 s by default): whiskers takes each
      # out of Traefik while it restarts (the service is the task's), but
      # with three copies all may be out at once for a few seconds; more
      # copies or a longer splay keep some serving.
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
      driver = var.redis_driver

      dynamic "config" {
        for_each = var.redis_driver == "docker" ? [var.redis_image] : []
        content {
          image = config.value
          ports = ["redis"]
        }
      }

      dynamic "config" {
        for_each = var.redis_driver == "docker" ? [] : [var.redis_command]
        content {
          command = config.value
          args    = length(var.redis_args) > 0 ? var.redis_args : ["--bind", "${NOMAD_IP_redis}", "--port", "${NOMAD_PORT_redis}"]
        }
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
