# Traefik, on every node, routing to what whiskers found in the catalogs.
#
# A system job next to whiskers.nomad.hcl. Traefik does not talk to Nomad or
# Consul itself: its only provider is the file provider, watching the
# directory `whiskers sync` writes (host volume "whiskers-dynamic"). The
# whiskers middleware plugin runs inside Traefik (Yaegi) as a local plugin and
# forwards requests to `whiskers wasm serve` over the Unix socket in the host
# volume "whiskers-run". See whiskers.nomad.hcl for the client configuration
# that declares both volumes.
#
# Run it:  nomad job run deploy/nomad/traefik.nomad.hcl

variable "datacenters" {
  description = "Datacenters the job runs in."
  type        = list(string)
  default     = ["*"]
}

variable "traefik_image" {
  description = "Traefik image. The plugin is tested with Traefik v3.6 (Yaegi v0.16.1)."
  type        = string
  default     = "traefik:v3.6"
}

variable "plugin_source" {
  description = "go-getter source of the whiskers repository; its plugin is loaded as a local plugin."
  type        = string
  default     = "git::https://github.com/whiskers-dev/whiskers.git?ref=main"
}

variable "http_port" {
  description = "Port of the public `web` entry point on every node."
  type        = number
  default     = 80
}

variable "admin_port" {
  description = "Port of the dashboard, /ping and /metrics (entry point `traefik`); keep it off the public network."
  type        = number
  default     = 8080
}

job "traefik" {
  type        = "system"
  datacenters = var.datacenters

  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    healthy_deadline = "2m"
  }

  group "traefik" {
    network {
      port "web" {
        static = var.http_port
      }
      port "admin" {
        static = var.admin_port
      }
    }

    volume "dynamic" {
      type      = "host"
      source    = "whiskers-dynamic"
      read_only = true
    }

    volume "run" {
      type      = "host"
      source    = "whiskers-run"
      read_only = false # connecting to a Unix socket needs write permission on it
    }

    restart {
      attempts = 5
      interval = "5m"
      delay    = "5s"
      mode     = "delay"
    }

    # Registered for Nomad's own health checking; no traefik.* tags, so the
    # syncer does not route to Traefik itself.
    service {
      name     = "traefik"
      provider = "nomad"
      port     = "admin"

      check {
        type     = "http"
        path     = "/ping"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "traefik" {
      driver = "docker"

      config {
        image        = var.traefik_image
        network_mode = "host"
        ports        = ["web", "admin"]

        # The plugin's source, where Traefik looks for local plugins:
        # ./plugins-local/src/<moduleName> relative to its working directory (/).
        mount {
          type     = "bind"
          source   = "local/whiskers"
          target   = "/plugins-local/src/github.com/whiskers-dev/whiskers"
          readonly = true
        }

        args = [
          "--entrypoints.web.address=:${NOMAD_PORT_web}",
          "--entrypoints.traefik.address=:${NOMAD_PORT_admin}",
          "--api.dashboard=true",
          "--ping=true",
          "--metrics.prometheus=true",
          "--log.level=INFO",
          # Everything routed comes from the file whiskers writes.
          "--providers.file.directory=/etc/traefik/dynamic",
          "--providers.file.watch=true",
          # Traefik applies provider changes at most this often; its default
          # of 2s keeps a drained or stopped server in the pool for up to 2s.
          # whiskers sync already coalesces bursts of catalog changes, so a
          # short throttle costs nothing and drains take ~0.1-0.3s.
          "--providers.providersThrottleDuration=100ms",
          # The whiskers middleware, used in tags as
          # traefik.http.middlewares.<name>.plugin.whiskers.<option>=<value>.
          "--experimental.localPlugins.whiskers.moduleName=github.com/whiskers-dev/whiskers",
        ]
      }

      artifact {
        source      = var.plugin_source
        destination = "local/whiskers"
      }

      volume_mount {
        volume      = "dynamic"
        destination = "/etc/traefik/dynamic"
        read_only   = true
      }

      volume_mount {
        volume      = "run"
        destination = "/run/whiskers"
        read_only   = false
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
