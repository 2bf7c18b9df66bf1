package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

// process is one component the plane started; its output goes to its own log file.
type process struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

type plane struct {
	o        options
	pki      *pki
	fail     context.CancelCauseFunc
	etcdURL  string
	mu       sync.Mutex
	stopping bool
	procs    []*process
	failed   *process
	clusters []*cluster
}

func newPlane(o options, fail context.CancelCauseFunc) *plane {
	return &plane{o: o, fail: fail}
}

// spawn starts a component in its own process group. Pdeathsig kills it should testplane
// itself be killed, so no component outlives the run.
func (p *plane) spawn(name, logPath, binary string, args ...string) (*process, error) {
	return p.spawnEnv(name, logPath, binary, nil, args...)
}

// spawnEnv is spawn with extra environment variables; binary is a name in --bin or an
// absolute path.
func (p *plane) spawnEnv(name, logPath, binary string, env []string, args ...string) (*process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(binary) {
		binary = filepath.Join(p.o.bin, binary)
	}
	cmd := exec.Command(binary, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		f.Close()
		return nil, errors.New("stopping")
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pr := &process{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	p.procs = append(p.procs, pr)
	go func() {
		pr.err = cmd.Wait()
		f.Close()
		close(pr.done)
		p.mu.Lock()
		stopping := p.stopping
		if !stopping && p.failed == nil {
			p.failed = pr
		}
		p.mu.Unlock()
		if !stopping {
			p.fail(fmt.Errorf("%s exited unexpectedly (%v); its log is %s", name, pr.err, logPath))
		}
	}()
	return pr, nil
}

// stopAll stops the components in three tiers, so that none loses what it talks to while
// it shuts down: the controllers and kwok, then the apiservers, then etcd. Each gets SIGTERM
// and, if it has not exited within five seconds, its process group gets SIGKILL.
func (p *plane) stopAll() {
	p.mu.Lock()
	p.stopping = true
	procs := append([]*process(nil), p.procs...)
	p.mu.Unlock()
	tier := func(pr *process) int {
		switch {
		case pr.name == "etcd":
			return 2
		case strings.HasSuffix(pr.name, "/kube-apiserver"):
			return 1
		default:
			return 0
		}
	}
	for t := 0; t <= 2; t++ {
		var wg sync.WaitGroup
		for _, pr := range procs {
			if tier(pr) != t {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGTERM)
				select {
				case <-pr.done:
				case <-time.After(5 * time.Second):
					_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
					<-pr.done
				}
			}()
		}
		wg.Wait()
	}
}

// printFailure shows the log tail of the component that failed, or of every component when
// none exited (the start timed out).
func (p *plane) printFailure() {
	p.mu.Lock()
	failed := p.failed
	procs := append([]*process(nil), p.procs...)
	p.mu.Unlock()
	if failed != nil {
		procs = []*process{failed}
	}
	for _, pr := range procs {
		fmt.Fprintf(os.Stderr, "---- %s: last lines of %s\n", pr.name, pr.log)
		for _, line := range tail(pr.log, 25) {
			fmt.Fprintln(os.Stderr, line)
		}
	}
}

func tail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// poll calls check until it succeeds, the context ends, or the component dies.
func poll(ctx context.Context, what string, check func(context.Context) error) error {
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				return context.Cause(ctx)
			}
			return fmt.Errorf("%s: not ready in time: %v", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *plane) start(ctx context.Context, fleet []clusterSpec) error {
	if err := os.RemoveAll(p.o.work); err != nil {
		return err
	}
	if err := os.MkdirAll(p.o.work, 0o755); err != nil {
		return err
	}
	var err error
	if p.pki, err = newPKI(filepath.Join(p.o.work, "pki")); err != nil {
		return err
	}
	rbac, err := renderRBAC(p.o.chart)
	if err != nil {
		return fmt.Errorf("rendering the chart's ClusterRole: %w", err)
	}
	if err := p.startEtcd(ctx); err != nil {
		return err
	}
	for i := range fleet {
		p.clusters = append(p.clusters, &cluster{plane: p, spec: fleet[i], index: i})
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range p.clusters {
		g.Go(func() error {
			if err := c.start(gctx, rbac); err != nil {
				return fmt.Errorf("cluster %s: %w", c.spec.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return writeKubeconfig(p.o.kubeconfig, p.pki, p.clusters)
}

func (p *plane) startEtcd(ctx context.Context) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	p.etcdURL = fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	dir := filepath.Join(p.o.work, "etcd")
	if _, err := p.spawn("etcd", filepath.Join(p.o.work, "etcd.log"), "etcd",
		"--name=testplane",
		"--data-dir="+dir,
		"--listen-client-urls="+p.etcdURL,
		"--advertise-client-urls="+p.etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=testplane="+peerURL,
		// Test data: durability across a power cut is not needed, and fsync dominates.
		"--unsafe-no-fsync",
		"--quota-backend-bytes=8589934592",
		"--log-level=warn",
	); err != nil {
		return err
	}
	return poll(ctx, "etcd", func(ctx context.Context) error {
		return httpOK(ctx, http.DefaultClient, p.etcdURL+"/health", "")
	})
}

func httpOK(ctx context.Context, client *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

func (p *plane) tlsClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.pki.caPEM)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
}
