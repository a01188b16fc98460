# The redirect and fileserver inside Traefik (its http-wasm plugins
# whiskers-redirect and whiskers-fileserver, the site from the Traefik job's
# static_site_artifact): /files/ serves the site and falls through to the app
# for what it does not have; /moved redirects to /files/.

variable "command" {
  description = "The testapp binary on the nodes (raw_exec)."
  type        = string
}

job "files" {
  datacenters = ["*"]

  group "app" {
    network {
      port "http" {}
    }

    service {
      name     = "files"
      provider = "nomad"
      port     = "http"
      tags = [
        "traefik.enable=true",
        "traefik.http.routers.files.rule=Host(`files.test`) && PathPrefix(`/files/`)",
        "traefik.http.routers.files.middlewares=files-strip,files-static",
        "traefik.http.middlewares.files-strip.stripprefix.prefixes=/files",
        "traefik.http.middlewares.files-static.plugin.whiskers-fileserver.root=/site",
        "traefik.http.routers.files-moved.rule=Host(`files.test`) && PathPrefix(`/moved`)",
        "traefik.http.routers.files-moved.middlewares=files-moved",
        "traefik.http.middlewares.files-moved.plugin.whiskers-redirect.destination=/files/",
        "traefik.http.middlewares.files-moved.plugin.whiskers-redirect.status=308",
      ]
    }

    task "app" {
      driver = "raw_exec"
      config {
        command = var.command
        args    = ["--listen", "${NOMAD_ADDR_http}", "--name", "files app"]
      }
    }
  }
}
