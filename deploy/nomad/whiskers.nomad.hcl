# whiskers: the catalog syncer and the WebAssembly host, on every Traefik node.
#
# A system job: one allocation per eligible client, next to Traefik
# (traefik.nomad.hcl). The two jobs meet through two Nomad host volumes that
# every client declares in its agent configuration:
#
#   client {
#     host_volume "whiskers-dynamic" {   # Traefik dynamic configuration
#       path      = "/opt/whiskers/dynamic"
#       read_only = false
#     }
#     host_volume "whiskers-run" {       # the wasm host's Unix socket
#       path      = "/run/whiskers"
#       read_only = false
#     }
#   }
#
#   sync: `whiskers sync` watches the Nomad and Consul catalogs and writes
#         /whiskers/dynamic/dynamic.yaml; Traefik's file provider watches
#         the same host directory and applies every change.
#   wasm: `whiskers wasm serve` runs the WAGI handlers (redirect, fileserver)
#         on /run/whiskers/wasm.sock; Traefik's whiskers plugin forwards to it.
#
# ACL tokens: the sync task gets a Nomad workload identity (NOMAD_TOKEN in its
# environment); bind the read-only policy to it once:
#
#   nomad acl policy apply -namespace default -job whiskers -group whiskers \
#     -task sync whiskers-sync deploy/nomad/whiskers-sync.nomad-policy.hcl
#
# The Consul token (policy whiskers-sync.consul-policy.hcl: service and node
# read) is read from the Nomad Variable nomad/jobs/whiskers (key
# consul_token), which only this job can read:
#
#   nomad var put nomad/jobs/whiskers consul_token=<secret-id>
#
# Run it:  nomad job run -var whiskers_artifact=https://…/whiskers_linux_amd64.tar.gz deploy/nomad/whiskers.nomad.hcl

variable "datacenters" {
  description = "Datacenters the job runs in."
  type        = list(string)
  default     = ["*"]
}

variable "whiskers_artifact" {
  description = "URL of a tar.gz holding the whiskers binary (go-getter syntax, may carry ?checksum=…). Empty uses whiskers_binary already on the node."
  type        = string
  default     = ""
}

variable "whiskers_binary" {
  description = "Path of the whiskers binary on the node, used when whiskers_artifact is empty."
  type        = string
  default     = "/usr/local/bin/whiskers"
}

variable "nomad_addr" {
  description = "Nomad HTTP API the syncer reads services from (NOMAD_ADDR). The local agent by default."
  type        = string
  default     = "http://127.0.0.1:4646"
}

variable "consul_addr" {
  description = "Consul HTTP API the syncer reads the catalog from (CONSUL_HTTP_ADDR, host:port or https://host:port)."
  type        = string
  default     = "127.0.0.1:8500"
}

variable "wasm_handlers_artifact" {
  description = "URL of a tar.gz with the wasm host's handlers (redirect/redirect.wasm, fileserver/fileserver.wasm, as in wasmhost/handlers) and the static site (site/), unpacked into local/handlers."
  type        = string
  default     = "https://github.com/whiskers-dev/whiskers/releases/latest/download/handlers.tar.gz"
}

job "whiskers" {
  type        = "system"
  datacenters = var.datacenters

  # System jobs update one node at a time; a broken binary stops the rollout
  # on the first node instead of breaking routing everywhere.
  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    healthy_deadline = "2m"
  }

  group "whiskers" {
    # Both host volumes are declared in the client configuration (see top).
    volume "dynamic" {
      type      = "host"
      source    = "whiskers-dynamic"
      read_only = false
    }

    volume "run" {
      type      = "host"
      source    = "whiskers-run"
      read_only = false
    }

    # A crashing task is restarted in place a few times before the
    # allocation fails; the file Traefik reads stays at its last good
    # content meanwhile, so routing keeps working.
    restart {
      attempts = 5
      interval = "5m"
      delay    = "5s"
      mode     = "delay"
    }

    task "sync" {
      driver = "exec"

      config {
        command = var.whiskers_artifact != "" ? "local/whiskers" : var.whiskers_binary
        args = [
          "sync",
          "--output", "/whiskers/dynamic/dynamic.yaml",
        ]
      }

      dynamic "artifact" {
        for_each = var.whiskers_artifact != "" ? [var.whiskers_artifact] : []
        content {
          source      = artifact.value
          destination = "local/"
        }
      }

      volume_mount {
        volume      = "dynamic"
        destination = "/whiskers/dynamic"
        read_only   = false
      }

      # Workload identity: NOMAD_TOKEN (a JWT the Nomad API accepts) in the
      # environment and in secrets/nomad_token. Its ACL policy is bound to
      # this job/group/task (see top).
      identity {
        env  = true
        file = true
      }

      env {
        NOMAD_ADDR       = var.nomad_addr
        CONSUL_HTTP_ADDR = var.consul_addr
      }

      # CONSUL_HTTP_TOKEN from the job's Nomad Variable, if there is one
      # (a Consul without ACLs needs none). The template sees it through the
      # same workload identity; the token never enters the job file or its
      # logs.
      template {
        destination = "secrets/consul.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{- if nomadVarExists "nomad/jobs/whiskers" }}{{ with nomadVar "nomad/jobs/whiskers" }}
          CONSUL_HTTP_TOKEN={{ .consul_token }}
          {{- end }}{{ end }}
        EOT
      }

      # cpu is the syncer's share when the node is busy (a weight, not a
      # cap): a change reaches the file in its share's time. On the
      # benchmark cluster at 200 services, 62 ms from Nomad's commit to the
      # file with 100, 22 ms with 500 (docs/benchmarks.md).
      resources {
        cpu    = 500
        memory = 64
      }
    }

    task "wasm" {
      driver = "exec"

      config {
        command = var.whiskers_artifact != "" ? "local/whiskers" : var.whiskers_binary
        args = [
          "wasm", "serve",
          "--config", "local/wasmhost.yaml",
          "--listen", "unix:///run/whiskers/wasm.sock",
          # Compiled modules survive task restarts (not allocation moves).
          "--cache-dir", "${NOMAD_ALLOC_DIR}/data/wasm-cache",
        ]
      }

      dynamic "artifact" {
        for_each = var.whiskers_artifact != "" ? [var.whiskers_artifact] : []
        content {
          source      = artifact.value
          destination = "local/"
        }
      }

      artifact {
        source      = var.wasm_handlers_artifact
        destination = "local/handlers"
      }

      volume_mount {
        volume      = "run"
        destination = "/run/whiskers"
        read_only   = false
      }

      # The wasm host's handlers; module and volume paths are relative to
      # this file. The handler names are what Traefik middlewares put in
      # their `handler` option.
      template {
        destination = "local/wasmhost.yaml"
        change_mode = "restart"
        data        = <<-EOT
          handlers:
            - name: fileserver
              module: handlers/fileserver/fileserver.wasm
              volumes: ["handlers/site:/site"]
              env: {ROOT: /site}
            - name: redirect
              module: handlers/redirect/redirect.wasm
              env: {DESTINATION: /index.html, STATUS: "301"}
        EOT
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
