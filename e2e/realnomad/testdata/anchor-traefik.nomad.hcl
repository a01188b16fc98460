# The anchor of the benchmarks: Traefik with its own Nomad provider at its
# best setting (watch, the same 100 ms throttle as the shipped Traefik), run
# as the shipped traefik.nomad.hcl runs Traefik — exec driver, the same
# resources — on the same node, so that both get the same share of the CPU.

variable "node" {
  description = "The node it runs on (the one of the measured whiskers Traefik)."
  type        = string
}

variable "nomad_addr" {
  description = "The Nomad API its provider reads."
  type        = string
}

job "anchor" {
  datacenters = ["*"]

  constraint {
    attribute = "${node.unique.name}"
    value     = var.node
  }

  group "traefik" {
    network {
      port "web" {}
      port "admin" {}
    }

    task "traefik" {
      driver = "exec"

      config {
        command = "/usr/local/bin/traefik"
        args = [
          "--entrypoints.web.address=127.0.0.1:${NOMAD_PORT_web}",
          "--entrypoints.traefik.address=127.0.0.1:${NOMAD_PORT_admin}",
          "--api.insecure=true",
          "--ping=true",
          "--log.level=WARN",
          "--global.checkNewVersion=false",
          "--global.sendAnonymousUsage=false",
          "--providers.providersThrottleDuration=100ms",
          "--providers.nomad=true",
          "--providers.nomad.watch=true",
          "--providers.nomad.exposedByDefault=false",
          "--providers.nomad.endpoint.address=${var.nomad_addr}",
        ]
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
