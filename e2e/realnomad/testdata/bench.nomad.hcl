# The benchmarks' app, as users write jobs: three copies of a small HTTP
# server (testapp) spread over the nodes, a native service with a 1 s http
# check and traefik.* tags, no shutdown_delay. Both whiskers and Traefik's
# own Nomad provider route it.

variable "command" {
  description = "The testapp binary on the nodes (raw_exec)."
  type        = string
}

variable "count" {
  description = "Copies."
  type        = number
  default     = 3
}

job "bench" {
  datacenters = ["*"]

  group "app" {
    count = var.count

    spread {
      attribute = "${node.unique.id}"
    }

    network {
      port "http" {}
    }

    service {
      name     = "bench"
      provider = "nomad"
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
        args    = ["--listen", "${NOMAD_ADDR_http}", "--name", "bench on ${node.unique.name} ${NOMAD_SHORT_ALLOC_ID}"]
      }
    }
  }
}
