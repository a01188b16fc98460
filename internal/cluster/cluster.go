// Package cluster runs a real Consul and Nomad cluster on loopback for the
// end-to-end tests, the benchmarks and `whiskers demo`: one Consul dev
// agent (the server), one Nomad server and three Nomad clients named
// worker-1, worker-2 and worker-3, as in the Finicky Whiskers setup, each
// with a Consul client agent of its own (as Nomad requires: a Nomad client
// removes from its agent the Nomad services it did not register). Nomad
// registers services in Consul (provider "consul") and in its own catalog
// (provider "nomad").
//
// Every agent listens on 127.0.0.1 only and never calls HashiCorp's update
// service (CHECKPOINT_DISABLE=1, disable_update_check). Every agent is a
// child of the calling process and dies with it. Each Nomad client runs in
// its own PID and mount namespace (util-linux unshare), so that the tasks it
// started and the tmpfs mounts it made (secrets/, private/) end with it
// even when it is killed; Close then leaves nothing behind but the
// directory it removes.
//
// The binaries come from `make nomad` and `make consul` (internal/realbin).
// Tasks use the exec driver (host volumes need it) or raw_exec; the exec
// chroot holds only what Options.ChrootFiles names, so a task starts in
// about a second instead of copying /usr.
package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/whiskers-dev/whiskers/internal/childproc"
	"github.com/whiskers-dev/whiskers/internal/syncbuf"
)

// Options configure a Cluster. Nomad, Consul and Dir are required.
type Options struct {
	// Nomad and Consul are the binaries (Nomad v1.6.1, Consul v1.14.8).
	Nomad, Consul string
	// Dir receives the agents' configuration and data; it must exist, and
	// should have a short path: Unix sockets in host volumes under it are
	// limited to 107 bytes.
	Dir string
	// Clients is the number of Nomad clients (default 3).
	Clients int
	// ChrootFiles maps host files to their path inside the exec driver's
	// chroot, e.g. the whiskers binary to /usr/local/bin/whiskers, as if
	// installed on every node. The C library is added for dynamically
	// linked binaries.
	ChrootFiles map[string]string
	// HostVolumes are the host volumes every client declares, each at
	// <client dir>/volumes/<name> (see Cluster.Volume).
	HostVolumes []string
	// Output also receives every agent's output (they are kept either way,
	// see Logs).
	Output io.Writer
}

// Cluster is a running cluster. Close stops it.
type Cluster struct {
	// ConsulAddr is Consul's HTTP address, "127.0.0.1:port" (CONSUL_HTTP_ADDR).
	ConsulAddr string
	// Server is the Nomad server; its Addr is NOMAD_ADDR for the cluster.
	Server *Agent
	// Clients are the Nomad clients, worker-1 first.
	Clients []*Agent

	opts   Options
	consul *ConsulAgent   // the server (a dev agent)
	agents []*ConsulAgent // each client's own, worker-1's first
	logs   *syncbuf.Buffer
	api    *nomadapi.Client
	cgroup string // the clients' cgroup_parent prefix
}

// Agent is one Nomad agent.
type Agent struct {
	// Name is "server" or the client's node name ("worker-1").
	Name string
	// Addr is its HTTP API, "http://127.0.0.1:port".
	Addr string
	// NodeID is a client's node ID, once Start has returned.
	NodeID string
	// Dir is its data directory.
	Dir string

	config string
	rpc    int  // RPC port
	ns     bool // runs in its own PID and mount namespace
	proc   *childproc.Process
	c      *Cluster
}

// Start starts Consul, the Nomad server and the clients, and returns once
// Consul and Nomad have a leader and every client is ready with the exec
// and raw_exec drivers healthy, or when ctx is done. On error it stops
// what it started.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Nomad == "" || o.Consul == "" || o.Dir == "" {
		return nil, errors.New("cluster: Nomad, Consul and Dir are required")
	}
	o.Clients = cmp.Or(o.Clients, 3)
	c := &Cluster{opts: o, logs: &syncbuf.Buffer{}, cgroup: "whiskers-" + filepath.Base(o.Dir)}
	ports, err := freePorts(4 + 3*(1+o.Clients) + 2*o.Clients)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	// Consul first, with its leader: Nomad clients fingerprint Consul at
	// start and then only every 15 s, and services with provider "consul"
	// are placed once they have.
	if err := c.startConsul(ctx, ports[:4]); err != nil {
		return nil, err
	}
	ports = ports[4:]
	for i := range o.Clients {
		if err := c.startConsulClient(ctx, fmt.Sprintf("worker-%d", i+1), ports[2*i:2*i+2]); err != nil {
			return nil, err
		}
	}
	ports = ports[2*o.Clients:]
	c.Server, err = c.newAgent("server", ports[:3], false)
	if err != nil {
		return nil, err
	}
	if err := c.Server.start(); err != nil {
		return nil, err
	}
	c.api, err = nomadapi.NewClient(&nomadapi.Config{Address: c.Server.Addr})
	if err != nil {
		return nil, fmt.Errorf("cluster: nomad client: %w", err)
	}
	for i := range o.Clients {
		p := ports[3*(i+1) : 3*(i+2)]
		a, err := c.newAgent(fmt.Sprintf("worker-%d", i+1), p, true)
		if err != nil {
			return nil, err
		}
		c.Clients = append(c.Clients, a)
		if err := a.start(); err != nil {
			return nil, err
		}
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// API is a Nomad API client of the server.
func (c *Cluster) API() *nomadapi.Client { return c.api }

// ConsulAPI is a Consul API client of the agent.
func (c *Cluster) ConsulAPI() *consulapi.Client { return c.consul.API("") }

// Volume is the host path of a client's host volume.
func (c *Cluster) Volume(client int, name string) string {
	return filepath.Join(c.Clients[client].Dir, "volumes", name)
}

// Logs returns what the agents have printed so far.
func (c *Cluster) Logs() string { return c.logs.String() }

// Env is the environment for the nomad and consul command lines against
// this cluster.
func (c *Cluster) Env() []string {
	return []string{"NOMAD_ADDR=" + c.Server.Addr, "CONSUL_HTTP_ADDR=" + c.ConsulAddr, "CHECKPOINT_DISABLE=1"}
}

// Nomad runs the nomad command line against the cluster and returns its
// combined output.
func (c *Cluster) Nomad(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.opts.Nomad, args...)
	cmd.Env = append(os.Environ(), c.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("cluster: nomad %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Close stops every agent (the clients' tasks and mounts end with them),
// removes the clients' cgroups and the cluster's data directories. It may
// be called more than once.
func (c *Cluster) Close() {
	for _, a := range slices.Backward(c.Clients) {
		a.Stop()
	}
	if c.Server != nil {
		c.Server.Stop()
	}
	for _, a := range c.agents {
		a.Close()
	}
	if c.consul != nil {
		c.consul.Close()
	}
	removeCgroups(c.cgroup)
	for _, a := range c.Clients {
		_ = os.RemoveAll(a.Dir)
	}
	if c.Server != nil {
		_ = os.RemoveAll(c.Server.Dir)
	}
}

func (c *Cluster) startConsul(ctx context.Context, p []int) error {
	var out io.Writer = &prefixWriter{prefix: "consul: ", w: c.logs}
	if c.opts.Output != nil {
		out = io.MultiWriter(out, &prefixWriter{prefix: "consul: ", w: c.opts.Output})
	}
	a, err := startConsulOn(ctx, ConsulOptions{Bin: c.opts.Consul, Dir: filepath.Join(c.opts.Dir, "consul"), Output: out}, p)
	if err != nil {
		return err
	}
	c.consul, c.ConsulAddr = a, a.Addr
	return nil
}

// startConsulClient starts the Consul client agent of the Nomad client
// name, joined to the server.
func (c *Cluster) startConsulClient(ctx context.Context, name string, p []int) error {
	prefix := "consul " + name + ": "
	var out io.Writer = &prefixWriter{prefix: prefix, w: c.logs}
	if c.opts.Output != nil {
		out = io.MultiWriter(out, &prefixWriter{prefix: prefix, w: c.opts.Output})
	}
	a, err := startConsulClient(ctx, c.opts.Consul, filepath.Join(c.opts.Dir, "consul-"+name), name, p, c.consul, out)
	if err != nil {
		return err
	}
	c.agents = append(c.agents, a)
	return nil
}

// wire sets a child's environment and output.
func (c *Cluster) wire(cmd *exec.Cmd, name string) {
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
	var out io.Writer = &prefixWriter{prefix: name + ": ", w: c.logs}
	if c.opts.Output != nil {
		out = io.MultiWriter(out, &prefixWriter{prefix: name + ": ", w: c.opts.Output})
	}
	cmd.Stdout, cmd.Stderr = out, out
}

func (c *Cluster) newAgent(name string, p []int, client bool) (*Agent, error) {
	a := &Agent{Name: name, Addr: "http://127.0.0.1:" + strconv.Itoa(p[0]), Dir: filepath.Join(c.opts.Dir, name), rpc: p[1], ns: client, c: c}
	if err := os.MkdirAll(a.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: %s directory: %w", name, err)
	}
	role := "server {\n  enabled = true\n  bootstrap_expect = 1\n}\n"
	if client {
		var err error
		if role, err = c.clientStanza(a, len(c.Clients)); err != nil {
			return nil, err
		}
	}
	cfg := fmt.Sprintf(`name = %q
data_dir = %q
bind_addr = "127.0.0.1"
datacenter = "dc1"
log_level = "INFO"
disable_update_check = true
leave_on_interrupt = false
leave_on_terminate = false
ports {
  http = %d
  rpc  = %d
  serf = %d
}
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}
consul {
  address = %q
}
%s`, name, filepath.Join(a.Dir, "data"), p[0], p[1], p[2], c.consulAddrOf(len(c.Clients), client), role)
	a.config = filepath.Join(a.Dir, "agent.hcl")
	if err := os.WriteFile(a.config, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("cluster: %s configuration: %w", name, err)
	}
	return a, nil
}

// consulAddrOf is the Consul agent the Nomad agent talks to: client number
// i's own, or the server's for the Nomad server.
func (c *Cluster) consulAddrOf(i int, client bool) string {
	if client && i < len(c.agents) {
		return c.agents[i].Addr
	}
	return c.ConsulAddr
}

// clientStanza is the client block and plugins of client number i.
func (c *Cluster) clientStanza(a *Agent, i int) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "client {\n  enabled = true\n  servers = [\"127.0.0.1:%d\"]\n", c.Server.rpc)
	// Every client is on 127.0.0.1: services register there, and each
	// client hands out its own range of ports.
	fmt.Fprintf(&b, "  network_interface = \"lo\"\n  min_dynamic_port = %d\n  max_dynamic_port = %d\n", 20000+1000*i, 20999+1000*i)
	fmt.Fprintf(&b, "  cgroup_parent = %q\n", "/"+c.cgroup+"-"+a.Name)
	// Cloud fingerprints would ask link-local metadata services; nothing
	// leaves the machine.
	b.WriteString("  options {\n    \"fingerprint.denylist\" = \"env_aws,env_gce,env_azure,env_digitalocean\"\n    \"driver.denylist\" = \"docker,java,qemu\"\n  }\n")
	fmt.Fprintf(&b, "  meta {\n    worker = %q\n  }\n", a.Name)
	chroot, err := chrootEnv(c.opts.ChrootFiles)
	if err != nil {
		return "", err
	}
	b.WriteString("  chroot_env {\n")
	for _, host := range slices.Sorted(maps.Keys(chroot)) {
		fmt.Fprintf(&b, "    %q = %q\n", host, chroot[host])
	}
	b.WriteString("  }\n")
	for _, v := range c.opts.HostVolumes {
		path := filepath.Join(a.Dir, "volumes", v)
		if err := os.MkdirAll(path, 0o755); err != nil {
			return "", fmt.Errorf("cluster: host volume %s: %w", v, err)
		}
		fmt.Fprintf(&b, "  host_volume %q {\n    path = %q\n    read_only = false\n  }\n", v, path)
	}
	b.WriteString("}\nplugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n")
	return b.String(), nil
}

// chrootEnv is the exec driver's chroot: the given files (symlinks
// resolved, so that the chroot gets the file) and the C library.
func chrootEnv(files map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for host, inside := range files {
		real, err := filepath.EvalSymlinks(host)
		if err != nil {
			return nil, fmt.Errorf("cluster: chroot file: %w", err)
		}
		out[real] = inside
	}
	// Enough for a dynamically linked Go binary (cgo builds of Traefik and
	// Nomad): the loader and libc.
	for _, lib := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/nsswitch.conf"} {
		if _, err := os.Stat(lib); err == nil {
			real, err := filepath.EvalSymlinks(lib)
			if err != nil {
				return nil, fmt.Errorf("cluster: chroot file: %w", err)
			}
			out[real] = lib
		}
	}
	return out, nil
}

// start starts the agent; a client in its own PID and mount namespace.
func (a *Agent) start() error {
	args := []string{"agent", "-config", a.config}
	var cmd *exec.Cmd
	if a.ns {
		// --kill-child: the agent dies with unshare (which dies with us);
		// as the namespace's first process, it takes every task with it.
		cmd = exec.Command("unshare", append([]string{"--pid", "--fork", "--mount", "--mount-proc", "--kill-child", "--", a.c.opts.Nomad}, args...)...)
	} else {
		cmd = exec.Command(a.c.opts.Nomad, args...)
	}
	a.c.wire(cmd, a.Name)
	p, err := childproc.Start(cmd)
	if err != nil {
		return fmt.Errorf("cluster: %s: %w", a.Name, err)
	}
	a.proc = p
	return nil
}

// Stop stops the agent: SIGTERM (Nomad shuts down without stopping its
// allocations), then SIGKILL after 10 s. A client's tasks and mounts end
// with its namespace.
func (a *Agent) Stop() {
	if a.proc == nil {
		return
	}
	if a.ns {
		// unshare ignores SIGTERM: signal the agent inside.
		if pid := firstChild(a.proc.Pid()); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	a.proc.Stop(syscall.SIGTERM, 10*time.Second)
	a.proc = nil
}

// Restart stops the agent and starts it again with the same data, ports
// and configuration.
func (a *Agent) Restart(ctx context.Context) error {
	a.Stop()
	if err := a.start(); err != nil {
		return err
	}
	return a.waitUp(ctx)
}

// waitUp waits until the agent is up — the server with a leader, a client
// ready — or ctx is done; it fails at once when the agent's process has
// exited (a port taken, a bad configuration). Its error ends with the
// agent's last lines.
func (a *Agent) waitUp(ctx context.Context) error {
	what, cond := a.Name+" ready", func() error { return a.c.nodeReady(a) }
	if !a.ns {
		what, cond = a.Name+" leader", a.c.hasLeader
	}
	if err := WaitFor(ctx, what, whileRunning(a.proc, cond)); err != nil {
		return fmt.Errorf("%w; %s's last lines:\n%s", err, a.Name, a.c.tail(a.Name, 20))
	}
	return nil
}

// tail returns the last n lines the agent called name printed.
func (c *Cluster) tail(name string, n int) string {
	var lines []string
	for _, l := range strings.Split(c.logs.String(), "\n") {
		if strings.HasPrefix(l, name+": ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// firstChild is the PID of pid's first child, or 0.
func firstChild(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// waitReady waits for Nomad's leader and every client.
func (c *Cluster) waitReady(ctx context.Context) error {
	for _, a := range append([]*Agent{c.Server}, c.Clients...) {
		if err := a.waitUp(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) hasLeader() error {
	leader, err := c.api.Status().Leader()
	if err == nil && leader == "" {
		err = errors.New("no leader yet")
	}
	return err
}

// nodeReady reports why client a is not ready with healthy exec and
// raw_exec drivers and Consul fingerprinted, and records its node ID.
func (c *Cluster) nodeReady(a *Agent) error {
	nodes, _, err := c.api.Nodes().List(&nomadapi.QueryOptions{Filter: fmt.Sprintf("Name == %q", a.Name)})
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Status != nomadapi.NodeStatusReady {
			continue
		}
		for _, d := range []string{"exec", "raw_exec"} {
			if di := n.Drivers[d]; di == nil || !di.Healthy {
				return fmt.Errorf("driver %s not healthy yet", d)
			}
		}
		node, _, err := c.api.Nodes().Info(n.ID, nil)
		if err != nil {
			return err
		}
		if node.Attributes["consul.version"] == "" {
			return errors.New("consul not fingerprinted yet")
		}
		a.NodeID = n.ID
		return nil
	}
	return errors.New("not registered as ready yet")
}

// whileRunning is cond, or ErrExited once p has exited.
func whileRunning(p *childproc.Process, cond func() error) func() error {
	return func() error {
		select {
		case <-p.Done():
			return fmt.Errorf("%w: %v", ErrExited, p.Err())
		default:
			return cond()
		}
	}
}

// ErrExited is wrapped by a condition's error when what it waits for can
// no longer come: the process that would bring it has exited.
var ErrExited = errors.New("the process has exited")

// WaitFor polls cond (an external process: polling is all there is) until
// it returns nil or ctx is done; an error of cond wrapping ErrExited ends
// the wait at once.
func WaitFor(ctx context.Context, what string, cond func() error) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrExited) {
			return fmt.Errorf("cluster: waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for %s (last: %v): %w", what, err, ctx.Err())
		case <-t.C:
		}
	}
}

// freePorts returns n loopback ports that were free a moment ago, held
// together so that they differ.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: finding free ports: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// removeCgroups removes the (empty) cgroups left under the clients'
// cgroup parents, deepest first.
func removeCgroups(prefix string) {
	roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", prefix+"-*"))
	unified, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", prefix+"-*"))
	for _, root := range append(roots, unified...) {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for _, d := range slices.Backward(dirs) {
			_ = os.Remove(d)
		}
	}
}

// prefixWriter prefixes every line written with the agent's name.
type prefixWriter struct {
	prefix string
	w      io.Writer
	mid    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out []byte
	for _, c := range b {
		if !p.mid {
			out = append(out, p.prefix...)
			p.mid = true
		}
		out = append(out, c)
		if c == '\n' {
			p.mid = false
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
