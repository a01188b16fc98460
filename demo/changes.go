package demo

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// Servers reads a dynamic configuration in YAML and returns the server URLs
// of each HTTP service's load balancer, sorted.
func Servers(config []byte) (map[string][]string, error) {
	var cfg dynamic.Configuration
	if err := yaml.Unmarshal(config, &cfg); err != nil {
		return nil, fmt.Errorf("demo: reading configuration: %w", err)
	}
	out := map[string][]string{}
	if cfg.HTTP == nil {
		return out, nil
	}
	for name, svc := range cfg.HTTP.Services {
		var urls []string
		if svc != nil && svc.LoadBalancer != nil {
			for _, s := range svc.LoadBalancer.Servers {
				urls = append(urls, s.URL)
			}
		}
		slices.Sort(urls)
		out[name] = urls
	}
	return out, nil
}

// Summary describes servers in one line, naming each server by names[url]
// when known: "finicky: 3 servers (worker-1, worker-2, worker-3); scoreboard: 1 server (scoreboard)".
func Summary(servers map[string][]string, names map[string]string) string {
	if len(servers) == 0 {
		return "no HTTP services"
	}
	var parts []string
	for _, svc := range slices.Sorted(maps.Keys(servers)) {
		urls := servers[svc]
		who := make([]string, len(urls))
		for i, u := range urls {
			who[i] = name(u, names)
		}
		slices.Sort(who)
		noun := "servers"
		if len(urls) == 1 {
			noun = "server"
		}
		parts = append(parts, fmt.Sprintf("%s: %d %s (%s)", svc, len(urls), noun, strings.Join(who, ", ")))
	}
	return strings.Join(parts, "; ")
}

// Diff lists the changes from old to cur, one line per server added or
// removed and per service added or removed, sorted.
func Diff(old, cur map[string][]string, names map[string]string) []string {
	var lines []string
	for _, svc := range slices.Sorted(maps.Keys(old)) {
		if _, ok := cur[svc]; !ok {
			lines = append(lines, fmt.Sprintf("- service %s", svc))
		}
	}
	for _, svc := range slices.Sorted(maps.Keys(cur)) {
		urls, existed := old[svc]
		if !existed {
			lines = append(lines, fmt.Sprintf("+ service %s", svc))
		}
		for _, u := range urls {
			if !slices.Contains(cur[svc], u) {
				lines = append(lines, fmt.Sprintf("- %s server %s (%s), %d left", svc, u, name(u, names), len(cur[svc])))
			}
		}
		for _, u := range cur[svc] {
			if !slices.Contains(urls, u) {
				lines = append(lines, fmt.Sprintf("+ %s server %s (%s), %d now", svc, u, name(u, names), len(cur[svc])))
			}
		}
	}
	return lines
}

func name(url string, names map[string]string) string {
	if n, ok := names[url]; ok {
		return n
	}
	return url
}
