# One service, "scoreboard", registered by Nomad in both catalogs: a copy in
# Consul (provider "consul") and a copy in Nomad's own (provider "nomad"),
# with the same tags. whiskers merges them into one pool.

variable "command" {
  description = "The testapp binary on the nodes (raw_exec)."
  type        = string
}

job "scoreboard" {
  datacenters = ["*"]

  group "consul" {
    network {
      port "http" {}
    }

    service {
      name     = "scoreboard"
      provider = "consul"
      port     = "http"
      tags     = ["traefik.enable=true", "traefik.http.routers.scoreboard.rule=Host(`scoreboard.test`)"]
    }

    task "app" {
      driver = "raw_exec"
      config {
        command = var.command
        args    = ["--listen", "${NOMAD_ADDR_http}", "--name", "scoreboard from consul"]
      }
    }
  }

  group "nomad" {
    network {
      port "http" {}
    }

    service {
      name     = "scoreboard"
      provider = "nomad"
      port     = "http"
      tags     = ["traefik.enable=true", "traefik.http.routers.scoreboard.rule=Host(`scoreboard.test`)"]
    }

    task "app" {
      driver = "raw_exec"
      config {
        command = var.command
        args    = ["--listen", "${NOMAD_ADDR_http}", "--name", "scoreboard from nomad"]
      }
    }
  }
}
