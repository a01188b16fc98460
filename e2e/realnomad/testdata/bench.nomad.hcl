# The benchmarks' app, as users write jobs: three copies of a small HTTP
# server (testapp) spread over the nodes, a service with a 1 s http check
# and traefik.* tags, no shutdown_delay (unless the variable sets one, as
# the shipped finicky job does). Registered in Nomad's catalog
# (BenchmarkOnNomad) or in Consul (BenchmarkOnConsul, where Consul runs the
# check); whiskers and the anchor, Traefik's own provider of that catalog,
# route it.

variable "command" {
  description = "The testapp binary on the nodes (raw_exec)."
  type        = string
}

variable "provider" {
  description = "The catalog the service registers in: nomad or consul."
  type        = string
  default     = "nomad"
}

variable "version" {
  description = "What the copies say they are; a new one is a deployment, one canary first."
  type        = string
  default     = "v1"
}

variable "shutdown_delay" {
  description = "How long Nomad waits between deregistering a copy's service and stopping it."
  type        = string
  default     = "0s"
}

variable "count" {
  description = "Copies."
  type        = number
  default     = 3
}

job "bench" {
  datacenters = ["*"]

  group "app" {
    count          = var.count
    shutdown_delay = var.shutdown_delay

    # A new version starts with one canary, promoted by the benchmark.
    update {
      canary            = 1
      max_parallel      = 1
      min_healthy_time  = "1s"
      healthy_deadline  = "20s"
      progress_deadline = "40s"
    }

    spread {
      attribute = "${node.unique.id}"
    }

    network {
      port "http" {}
    }

    service {
      name     = "bench"
      provider = var.provider
      port     = "http"
      tags = [
        "traefik.enable=true",
        "traefik.http.routers.bench.rule=Host(`bench.test`)",
      ]

      check {
        type     = "http"
        path     = "/healthz"
        interval = "1s"
        timeout  = "1s"
      }
    }

    task "app" {
      driver = "raw_exec"

      config {
        command = var.command
        args    = ["--listen", "${NOMAD_ADDR_http}", "--name", "bench ${var.version} on ${node.unique.name} ${NOMAD_SHORT_ALLOC_ID}"]
      }
    }
  }
}
