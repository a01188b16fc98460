package syncer_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/whiskers-dev/whiskers/syncer/fakes/consulfake"
	"github.com/whiskers-dev/whiskers/syncer/fakes/nomadfake"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

// BenchmarkChangeToFile measures, against the fake catalogs with 100 enabled
// services in each, the time from a catalog change (a Consul check flipping,
// a Nomad instance registered) to the new configuration being published, with
// no throttle; and the HTTP requests the sources made per change. Sub-
// benchmarks: "disk" writes the file (fsync included) in a temporary directory
// on disk, "tmpfs" in /dev/shm, "memory" writes no file (rendered bytes handed
// over, as to the HTTP provider's /config).
//
//	go test -run '^$' -bench ChangeToFile -benchtime 400x ./syncer/
func BenchmarkChangeToFile(b *testing.B) {
	dirs := []struct{ name, dir string }{{"disk", b.TempDir()}, {"tmpfs", "/dev/shm"}, {"memory", ""}}
	for _, d := range dirs {
		b.Run(d.name, func(b *testing.B) {
			dir := d.dir
			if dir == "/dev/shm" {
				if _, err := os.Stat(dir); err != nil {
					b.Skip("no /dev/shm")
				}
				var err error
				if dir, err = os.MkdirTemp(dir, "whiskers-bench-"); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { os.RemoveAll(dir) })
			}
			benchChange(b, dir)
		})
	}
}

func benchChange(b *testing.B, dir string) {
	const services = 100
	published := make(chan []byte, 1024)
	c := newClusterIn(b, dir, 0, time.Hour, func(p []byte) { published <- p })
	for i := range services {
		c.consul.Register(consulfake.Instance{
			ID: fmt.Sprintf("c%d", i), Service: fmt.Sprintf("cweb%d", i), Address: "10.1.0.1", Port: 1000 + i,
			Tags: []string{"traefik.enable=true"},
		})
		c.nomad.Register(nomadapi.ServiceRegistration{
			ID: fmt.Sprintf("n%d", i), ServiceName: fmt.Sprintf("nweb%d", i), Address: "10.2.0.1", Port: 1000 + i,
			Tags: []string{"traefik.enable=true"},
		})
	}
	c.run(b)
	// Wait for the first complete configuration.
	for p := range published {
		if bytes.Contains(p, []byte("cweb99")) && bytes.Contains(p, []byte("nweb99")) {
			break
		}
	}
	// Let every watch settle into its blocking query: each service read,
	// and Consul's two watches (the service list, every check's state)
	// asking again with the index of their first answer.
	testkit.WaitFor(b, "watches settled", func() bool {
		for i := range services {
			if c.consul.Requests(fmt.Sprintf("%s/cweb%d", consulfake.EndpointHealthService, i)) < 1 {
				return false
			}
		}
		return c.consul.Requests(consulfake.EndpointCatalogServices) >= 2 && c.consul.Requests(consulfake.EndpointHealthState) >= 2
	})
	c.consul.ResetCounts()
	c.nomad.ResetCounts()

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		var change func()
		var done func([]byte) bool
		svc := i % services
		if i%2 == 0 {
			id := fmt.Sprintf("c%d", svc)
			url := fmt.Sprintf("http://10.1.0.1:%d", 1000+svc)
			status := "critical"
			if (i/services)%2 == 1 { // the same instance comes back every `services` changes
				status = "passing"
			}
			change = func() { c.consul.SetCheck(id, status) }
			done = func(p []byte) bool { return bytes.Contains(p, []byte(url)) == (status == "passing") }
		} else {
			url := fmt.Sprintf("http://10.2.0.2:%d", 20000+i)
			change = func() {
				c.nomad.Register(nomadapi.ServiceRegistration{
					ID: fmt.Sprintf("x%d", i), ServiceName: fmt.Sprintf("nweb%d", svc), Address: "10.2.0.2", Port: 20000 + i,
					Tags: []string{"traefik.enable=true"},
				})
			}
			done = func(p []byte) bool { return bytes.Contains(p, []byte(url)) }
		}
		start := time.Now()
		change()
		for p := range published {
			if done(p) {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	consulChanges, nomadChanges := float64((b.N+1)/2), float64(b.N/2)
	// Every request to each catalog (counted once per endpoint: the fakes
	// also count reads per service, under their own names).
	cr, nr := c.consul.RequestCounts(), c.nomad.RequestCounts()
	consulReq := cr[consulfake.EndpointCatalogServices] + cr[consulfake.EndpointHealthService] + cr[consulfake.EndpointHealthState]
	nomadReq := 0
	for _, e := range []string{nomadfake.EndpointServices, nomadfake.EndpointService, nomadfake.EndpointEventStream,
		nomadfake.EndpointAllocations, nomadfake.EndpointNodes, nomadfake.EndpointDeployments, nomadfake.EndpointJob, nomadfake.EndpointAllocChecks} {
		nomadReq += nr[e]
	}
	b.ReportMetric(float64(consulReq)/consulChanges, "consul-req/change")
	if nomadChanges > 0 {
		b.ReportMetric(float64(nomadReq)/nomadChanges, "nomad-req/change")
	}
}
