package status

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
)

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func result(reasons map[string]string) builder.Result {
	sd := builder.ServiceDecisions{Service: "app", Routers: []string{"http:app"}}
	for _, id := range []string{"a", "b", "c"} {
		r, ok := reasons[id]
		if !ok {
			continue
		}
		sd.Instances = append(sd.Instances, builder.Decision{Origin: catalog.OriginNomad, ID: id, Address: "10.0.0.1", Port: 80,
			Routed: strings.HasPrefix(r, "routed"), Reason: r})
	}
	return builder.Result{Services: []builder.ServiceDecisions{sd}}
}

func TestBoardChanges(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	b := NewBoard(c.now)
	nomad := b.Tracker("nomad")
	nomad.OnAnswer(110)
	b.Update(result(map[string]string{"a": builder.ReasonRouted, "b": builder.ReasonRouted}), map[string]bool{"nomad": true})
	if got := b.Status().Changes; len(got) != 0 {
		t.Fatalf("first build: changes %v, want none", got)
	}
	c.t = c.t.Add(time.Second)
	nomad.OnAnswer(113)
	b.Update(result(map[string]string{"a": builder.ReasonRouted, "b": builder.ReasonDraining, "c": builder.ReasonRouted}), nil)
	c.t = c.t.Add(time.Second)
	b.Update(result(map[string]string{"b": builder.ReasonDraining, "c": builder.ReasonRouted}), nil)
	got := b.Status().Changes
	want := []Change{
		{At: c.t, Service: "app", Instance: "nomad/a", Address: "10.0.0.1:80", Was: builder.ReasonRouted, Now: ""},
		{At: c.t.Add(-time.Second), Service: "app", Instance: "nomad/b", Address: "10.0.0.1:80", Was: builder.ReasonRouted, Now: builder.ReasonDraining,
			Cause: "nomad index 110 → 113"},
		{At: c.t.Add(-time.Second), Service: "app", Instance: "nomad/c", Address: "10.0.0.1:80", Was: "", Now: builder.ReasonRouted,
			Cause: "nomad index 110 → 113"},
	}
	if len(got) != len(want) {
		t.Fatalf("changes %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for range MaxChanges {
		c.t = c.t.Add(time.Second)
		b.Update(result(map[string]string{"c": builder.ReasonRouted}), nil)
		b.Update(result(map[string]string{"c": builder.ReasonCritical}), nil)
	}
	if n := len(b.Status().Changes); n != MaxChanges {
		t.Errorf("%d changes kept, want %d", n, MaxChanges)
	}
}

func TestTracker(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	b := NewBoard(c.now)
	tr := b.Tracker("consul")
	tr.OnAnswer(7)
	w := b.Status().Catalogs[0]
	if w.Ready || w.LastIndex != 7 || !w.LastContact.Equal(c.t) || !w.KeptSince.IsZero() {
		t.Errorf("after an answer: %+v", w)
	}
	b.Update(builder.Result{}, map[string]bool{"consul": true})
	failed := c.t.Add(time.Second)
	c.t = failed
	tr.OnError(errors.New("connection refused"))
	c.t = c.t.Add(time.Second)
	tr.OnError(errors.New("connection refused again"))
	w = b.Status().Catalogs[0]
	if !w.Ready || w.Errors != 2 || w.LastError != "connection refused again" || !w.KeptSince.Equal(failed) {
		t.Errorf("while failing: %+v, want ready, 2 errors, the last one, last good kept since the first", w)
	}
	tr.OnAnswer(9)
	if w = b.Status().Catalogs[0]; !w.KeptSince.IsZero() || w.LastIndex != 9 {
		t.Errorf("answering again: %+v", w)
	}
}

func TestHandler(t *testing.T) {
	b := NewBoard(nil)
	b.Tracker("nomad").OnAnswer(3)
	b.Update(result(map[string]string{"a": builder.ReasonRouted, "b": builder.ReasonCritical}), map[string]bool{"nomad": true})
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)

	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&sb)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return sb.String()
	}
	page := get("/")
	for _, w := range []string{`data-instance="nomad/a" data-routed="true"`, `data-instance="nomad/b" data-routed="false"`,
		builder.ReasonCritical, `data-catalog="nomad"`, "1 instances routed, 1 not routed", `<code>http:app</code>`} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if strings.Contains(page, "<script src") || strings.Contains(page, "<link") {
		t.Error("the page fetches something: it must be self-contained")
	}
	var st Status
	if err := json.Unmarshal([]byte(get("/status.json")), &st); err != nil {
		t.Fatal(err)
	}
	if sd, ok := st.Service("app"); !ok || len(sd.Instances) != 2 || sd.Instances[1].Reason != builder.ReasonCritical {
		t.Errorf("status.json: app %+v", sd)
	}

	// The event stream sends the content now, and again after a change.
	resp, err := http.Get(srv.URL + "/status/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	next := func() string {
		var data strings.Builder
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("event stream: %v", err)
			}
			if line == "\n" && data.Len() > 0 {
				return data.String()
			}
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				data.WriteString(d)
			}
		}
	}
	if first := next(); !strings.Contains(first, builder.ReasonCritical) {
		t.Errorf("first event lacks the critical instance:\n%s", first)
	}
	b.Update(result(map[string]string{"a": builder.ReasonRouted, "b": builder.ReasonDraining}), nil)
	if second := next(); !strings.Contains(second, builder.ReasonDraining) {
		t.Errorf("event after the change lacks it:\n%s", second)
	}
	// Close ends the stream, so that a server's Shutdown need not wait.
	b.Close()
	if _, err := io.ReadAll(events); err != nil {
		t.Errorf("reading to the end of the stream: %v", err)
	}
}
