// Command testapp stands in for the Spin app (and Redis) of
// deploy/nomad/finicky-whiskers.nomad.hcl in the real-Nomad tests, where
// neither Spin nor images can be fetched: an HTTP server that answers every
// path with its --name, and /healthz with 200.
//
// POST /_sick makes it answer 503 on every path (its Nomad check fails),
// POST /_well heals it. Like a process without graceful shutdown, it exits
// at once on SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync/atomic"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	name := flag.String("name", "testapp", "what every answer says")
	sick := flag.Bool("sick", false, "start sick: 503 on every path")
	flag.Parse()

	var ill atomic.Bool
	ill.Store(*sick)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_sick", func(w http.ResponseWriter, r *http.Request) { ill.Store(true) })
	mux.HandleFunc("POST /_well", func(w http.ResponseWriter, r *http.Request) { ill.Store(false) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if ill.Load() {
			http.Error(w, *name+" is sick", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, *name)
	})
	fmt.Fprintf(os.Stderr, "testapp %q on %s\n", *name, *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
