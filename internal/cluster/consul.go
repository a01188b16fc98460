package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/whiskers-dev/whiskers/internal/childproc"
	"github.com/whiskers-dev/whiskers/internal/syncbuf"
)

// ConsulOptions configure a Consul agent alone. Bin and Dir are required.
type ConsulOptions struct {
	// Bin is the Consul binary (v1.14.8).
	Bin string
	// Dir receives the agent's configuration; it is created if missing.
	Dir string
	// HCL is more agent configuration, e.g. an acl block.
	HCL string
	// Output also receives the agent's output (kept either way, see Logs).
	Output io.Writer
}

// ConsulAgent is a Consul agent on loopback: a dev agent (server and
// client, in memory), or a client agent joined to one. Close stops it.
type ConsulAgent struct {
	// Addr is its HTTP address, "127.0.0.1:port" (CONSUL_HTTP_ADDR).
	Addr string

	serfLAN int // its gossip port, where client agents join it
	proc    *childproc.Process
	logs    *syncbuf.Buffer
}

// StartConsul starts a Consul dev agent on free loopback ports and returns
// once it has a leader, or when ctx is done.
func StartConsul(ctx context.Context, o ConsulOptions) (*ConsulAgent, error) {
	p, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	return startConsulOn(ctx, o, p)
}

// startConsulOn starts the agent on ports http, serf_lan, serf_wan, server.
func startConsulOn(ctx context.Context, o ConsulOptions, p []int) (*ConsulAgent, error) {
	if o.Bin == "" || o.Dir == "" {
		return nil, errors.New("cluster: consul: Bin and Dir are required")
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: consul directory: %w", err)
	}
	cfg := fmt.Sprintf(`node_name = "consul"
disable_update_check = true
log_level = "warn"
bind_addr = "127.0.0.1"
client_addr = "127.0.0.1"
ports {
  http     = %d
  serf_lan = %d
  serf_wan = %d
  server   = %d
  dns      = -1
  grpc     = -1
  grpc_tls = -1
}
%s
`, p[0], p[1], p[2], p[3], o.HCL)
	file := filepath.Join(o.Dir, "consul.hcl")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("cluster: consul configuration: %w", err)
	}
	a := &ConsulAgent{Addr: "127.0.0.1:" + strconv.Itoa(p[0]), serfLAN: p[1], logs: &syncbuf.Buffer{}}
	return a, a.start(ctx, exec.Command(o.Bin, "agent", "-dev", "-config-file", file), o.Output)
}

// startConsulClient starts a Consul client agent named name, as every
// Nomad client has its own (Nomad's clients remove from their agent the
// Nomad services they do not know: three clients sharing one agent remove
// each other's every 30 s), on ports http and serf_lan, joined to server.
func startConsulClient(ctx context.Context, bin, dir, name string, p []int, server *ConsulAgent, output io.Writer) (*ConsulAgent, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: consul directory: %w", err)
	}
	cfg := fmt.Sprintf(`node_name = %q
data_dir = %q
server = false
disable_update_check = true
log_level = "warn"
bind_addr = "127.0.0.1"
client_addr = "127.0.0.1"
retry_join = ["127.0.0.1:%d"]
retry_interval = "1s"
ports {
  http     = %d
  serf_lan = %d
  dns      = -1
  grpc     = -1
  grpc_tls = -1
}
`, name, filepath.Join(dir, "data"), server.serfLAN, p[0], p[1])
	file := filepath.Join(dir, "consul.hcl")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("cluster: consul configuration: %w", err)
	}
	a := &ConsulAgent{Addr: "127.0.0.1:" + strconv.Itoa(p[0]), serfLAN: p[1], logs: &syncbuf.Buffer{}}
	return a, a.start(ctx, exec.Command(bin, "agent", "-config-file", file), output)
}

// start runs the agent's command and waits until it sees a leader (a
// client agent: once it has joined a server).
func (a *ConsulAgent) start(ctx context.Context, cmd *exec.Cmd, output io.Writer) error {
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
	var out io.Writer = a.logs
	if output != nil {
		out = io.MultiWriter(a.logs, output)
	}
	cmd.Stdout, cmd.Stderr = out, out
	var err error
	if a.proc, err = childproc.Start(cmd); err != nil {
		return fmt.Errorf("cluster: consul: %w", err)
	}
	if err := WaitFor(ctx, "consul leader", whileRunning(a.proc, a.leader)); err != nil {
		a.Close()
		return fmt.Errorf("%w; output:\n%s", err, a.Logs())
	}
	return nil
}

// API is an API client of the agent with token ("" for none).
func (a *ConsulAgent) API(token string) *consulapi.Client {
	cl, err := consulapi.NewClient(&consulapi.Config{Address: a.Addr, Token: token})
	if err != nil {
		panic(err) // only a bad address fails, and Addr is ours
	}
	return cl
}

func (a *ConsulAgent) leader() error {
	select {
	case <-a.proc.Done():
		return fmt.Errorf("exited: %v", a.proc.Err())
	default:
	}
	leader, err := a.API("").Status().Leader()
	if err == nil && leader == "" {
		err = errors.New("no leader yet")
	}
	return err
}

// Logs returns what the agent has printed so far.
func (a *ConsulAgent) Logs() string { return a.logs.String() }

// Close stops the agent (SIGTERM, then SIGKILL after 10 s). It may be
// called more than once.
func (a *ConsulAgent) Close() { a.proc.Stop(syscall.SIGTERM, 10*time.Second) }
