# Catalog weight for the benchmarks at scale: three copies of testapp that
# register `services` services each (fill0, fill1, …, every one routed by
# its traefik.* tags, no checks), so that the catalog holds that many more
# services × 3 instances while only three processes run.

variable "command" {
  description = "The testapp binary on the nodes (raw_exec)."
  type        = string
}

variable "provider" {
  description = "The catalog the services register in: nomad or consul."
  type        = string
  default     = "nomad"
}

variable "services" {
  description = "How many services each copy registers."
  type        = number
  default     = 199
}

job "filler" {
  datacenters = ["*"]

  group "app" {
    count = 3

    spread {
      attribute = "${node.unique.id}"
    }

    network {
      port "http" {}
    }

    dynamic "service" {
      for_each = range(var.services)
      content {
        name     = "fill${service.value}"
        provider = var.provider
        port     = "http"
        tags = [
          "traefik.enable=true",
          "traefik.http.routers.fill${service.value}.rule=Host(`fill${service.value}.test`)",
        ]
      }
    }

    task "app" {
      driver = "raw_exec"

      config {
        command = var.command
        args    = ["--listen", "${NOMAD_ADDR_http}", "--name", "filler on ${node.unique.name}"]
      }
    }
  }
}
