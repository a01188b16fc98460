# Traefik, on every node, routing to what whiskers found in the catalogs.
#
# A system job next to whiskers.nomad.hcl. Traefik does not talk to Nomad or
# Consul itself: its only provider is the file provider, watching the file
# `whiskers sync` writes (host volume "whiskers-dynamic"). The whiskers
# middleware plugin runs inside Traefik (Yaegi) as a local plugin and
# forwards requests to `whiskers wasm serve` over the Unix socket in the host
# volume "whiskers-run". See whiskers.nomad.hcl for the client configuration
# that declares both volumes.
#
# Run it:  nomad job run deploy/nomad/traefik.nomad.hcl
#
# With driver = "exec" the job runs Traefik's release binary instead of the
# image: traefik_binary on every node (or traefik_artifact, e.g. Traefik's
# traefik_v3.6.12_linux_amd64.tar.gz release).

variable "datacenters" {
  description = "Datacenters the job runs in."
  type        = list(string)
  default     = ["*"]
}

variable "driver" {
  description = "Task driver: docker (traefik_image) or exec (traefik_binary or traefik_artifact)."
  type        = string
  default     = "docker"
}

variable "traefik_binary" {
  description = "Path of the traefik binary on the node (exec driver, traefik_artifact empty)."
  type        = string
  default     = "/usr/local/bin/traefik"
}

variable "traefik_artifact" {
  description = "URL of a tar.gz holding the traefik binary (exec driver, go-getter syntax); \"\" uses traefik_binary."
  type        = string
  default     = ""
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

variable "static_site_artifact" {
  description = "go-getter source of a tar.gz whose site/ directory the in-Traefik fileserver (whiskers-fileserver) serves, mounted read-only at /site; \"\" mounts nothing. The release's handlers.tar.gz holds the example site."
  type        = string
  default     = ""
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

variable "bind_ip" {
  description = "IP address both entry points listen on; \"\" is every address. The ports are still those of the node's network (0 picks one per node)."
  type        = string
  default     = ""
}

variable "extra_args" {
  description = "More Traefik command-line arguments, e.g. [\"--api.insecure=true\"] or [\"--log.level=DEBUG\"]."
  type        = list(string)
  default     = []
}

locals {
  args = concat([
    "--entrypoints.web.address=${var.bind_ip}:$${NOMAD_PORT_web}",
    "--entrypoints.traefik.address=${var.bind_ip}:$${NOMAD_PORT_admin}",
    "--api.dashboard=true",
    "--ping=true",
    "--metrics.prometheus=true",
    "--log.level=INFO",
    "--global.checkNewVersion=false",
    "--global.sendAnonymousUsage=false",
    # Everything routed comes from the file whiskers writes into this
    # directory. Directory mode works whichever of Traefik and whiskers
    # starts first (with `filename`, a file missing when Traefik starts is
    # never read); whiskers writes its temporary files in a subdirectory,
    # so each change is one reload.
    "--providers.file.directory=/etc/traefik/dynamic",
    "--providers.file.watch=true",
    # Traefik applies provider changes at most this often; its default of
    # 2s keeps a drained or stopped server in the pool for up to 2s.
    # whiskers sync already throttles its writes (--throttle, 50 ms), so a
    # short throttle here costs nothing.
    "--providers.providersThrottleDuration=100ms",
    # The whiskers middleware, used in tags as
    # traefik.http.middlewares.<name>.plugin.whiskers.<option>=<value>.
    "--experimental.localPlugins.whiskers.moduleName=github.com/whiskers-dev/whiskers",
    # The same redirect and fileserver inside Traefik's process (http-wasm,
    # no hop to the wasm host), used in tags as
    # traefik.http.middlewares.<name>.plugin.whiskers-redirect.destination=…
    # and …plugin.whiskers-fileserver.root=/site.
    "--experimental.localPlugins.whiskers-redirect.moduleName=github.com/whiskers-dev/whiskers/wasmhost/handlers/redirect",
    "--experimental.localPlugins.whiskers-fileserver.moduleName=github.com/whiskers-dev/whiskers/wasmhost/handlers/fileserver",
    ], var.static_site_artifact == "" ? [] : [
    # The files the in-Traefik fileserver may read: nothing else.
    "--experimental.localPlugins.whiskers-fileserver.settings.mounts=/local/static/site:/site:ro",
  ], var.extra_args)
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
    # A port of 0 is dynamic: Nomad picks one per node.
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
      driver = var.driver

      # The image's working directory and the exec chroot's are both /, where
      # Traefik looks for local plugins: ./plugins-local/src/<moduleName>.
      dynamic "config" {
        for_each = var.driver == "docker" ? [var.traefik_image] : []
        content {
          image        = config.value
          network_mode = "host"
          ports        = ["web", "admin"]
          args         = local.args

          mount {
            type     = "bind"
            source   = "plugins-local"
            target   = "/plugins-local"
            readonly = true
          }
        }
      }

      dynamic "config" {
        for_each = var.driver == "docker" ? [] : [var.traefik_artifact != "" ? "local/traefik" : var.traefik_binary]
        content {
          command = config.value
          args    = local.args
        }
      }

      dynamic "artifact" {
        for_each = var.driver != "docker" && var.traefik_artifact != "" ? [var.traefik_artifact] : []
        content {
          source      = artifact.value
          destination = "local/"
        }
      }

      # The plugin's source, where Traefik looks for local plugins.
      artifact {
        source      = var.plugin_source
        destination = "plugins-local/src/github.com/whiskers-dev/whiskers"
      }

      dynamic "artifact" {
        for_each = var.static_site_artifact == "" ? [] : [var.static_site_artifact]
        content {
          source      = artifact.value
          destination = "local/static"
        }
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
