# The anchor of the benchmarks: Traefik with its own provider of the catalog
# under test (Nomad or Consul Catalog) at its best setting (watch, the same
# 100 ms throttle as the shipped Traefik), run as the shipped
# traefik.nomad.hcl runs Traefik — a system job, exec driver, the same
# resources — so that on every node both get the same share of the CPU,
# and a change makes as many proxies on the machine reload on each side.

variable "provider_args" {
  description = "The provider's flags, e.g. --providers.nomad=true and its endpoint."
  type        = list(string)
}

job "anchor" {
  datacenters = ["*"]
  type        = "system"

  group "traefik" {
    network {
      port "web" {}
      port "admin" {}
    }

    task "traefik" {
      driver = "exec"

      config {
        command = "/usr/local/bin/traefik"
        args = concat([
          "--entrypoints.web.address=127.0.0.1:${NOMAD_PORT_web}",
          "--entrypoints.traefik.address=127.0.0.1:${NOMAD_PORT_admin}",
          "--api.insecure=true",
          "--api.dashboard=false", # this Traefik, built from its module, has no dashboard files
          "--ping=true",
          "--log.level=WARN",
          "--global.checkNewVersion=false",
          "--global.sendAnonymousUsage=false",
          "--providers.providersThrottleDuration=100ms",
        ], var.provider_args)
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
