package status

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("15:04:05")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
}).Parse(pageHTML))

// Handler serves the status: GET / is the page (readable without
// JavaScript; with it, it follows /status/events), /status.json the same as
// JSON, /status/events a stream of server-sent events, each the page's
// content after a change.
func (b *Board) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", b.page)
	mux.HandleFunc("GET /status.json", b.json)
	mux.HandleFunc("GET /status/events", b.events)
	return mux
}

func (b *Board) page(w http.ResponseWriter, _ *http.Request) {
	var buf bytes.Buffer
	if err := page.Execute(&buf, view(b.Status())); err != nil {
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (b *Board) json(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(b.Status())
}

// keepAlive is how often an idle event stream gets a comment, so that
// proxies keep it open.
const keepAlive = 15 * time.Second

func (b *Board) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	var sent uint64
	first := true
	for {
		st, version, wake := b.status()
		if first || version != sent {
			var buf bytes.Buffer
			if err := page.ExecuteTemplate(&buf, "main", view(st)); err != nil {
				return
			}
			if _, err := fmt.Fprintf(w, "event: status\ndata: %s\n\n", strings.ReplaceAll(buf.String(), "\n", "\ndata: ")); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			sent, first = version, false
		}
		select {
		case <-r.Context().Done():
			return
		case <-b.closed:
			return
		case <-wake:
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// pageView is what the template renders.
type pageView struct {
	Status
	Routed, NotRouted int
}

func view(st Status) pageView {
	v := pageView{Status: st}
	for _, sd := range st.Services {
		for _, d := range sd.Instances {
			if d.Routed {
				v.Routed++
			} else {
				v.NotRouted++
			}
		}
	}
	return v
}
