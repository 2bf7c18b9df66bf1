// Command gitserver is the Git host Berth's GitOps tests and demo push to: Git's own
// git-http-backend behind HTTPS with basic authentication, and git-upload-pack /
// git-receive-pack behind SSH with public-key authentication, both over the bare
// repositories of one directory. It listens on loopback only and makes its TLS CA and SSH
// host key at each start.
//
//	gitserver --root DIR --dir WORK --ready-file FILE --users writer:pw:rw,reader:pw:ro \
//	  [--authorized-keys FILE]
//
// WORK receives ca.pem (the HTTPS certificate's CA) and known_hosts (the SSH host key, for
// 127.0.0.1 and its port); the CA and the host key are kept there and reused by a restart. The ready file is written last, as JSON: {"https": base URL,
// "ssh": base URL, "ca_file", "known_hosts"}. A user marked ro may fetch but not push, as a
// read-only deploy key would. A repository's own hooks (a pre-receive that refuses a
// protected branch) run as on any Git host.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

type user struct {
	password string
	write    bool
}

func main() {
	root := flag.String("root", "", "directory of bare repositories (<name>.git)")
	dir := flag.String("dir", "", "directory for ca.pem and known_hosts")
	ready := flag.String("ready-file", "", "written as JSON once both listeners serve")
	usersFlag := flag.String("users", "", "name:password:rw|ro, comma-separated (HTTPS)")
	authorized := flag.String("authorized-keys", "", "OpenSSH public keys allowed to push over SSH")
	httpsAddr := flag.String("https-addr", "127.0.0.1:0", "where HTTPS listens (loopback)")
	sshAddr := flag.String("ssh-addr", "127.0.0.1:0", "where SSH listens (loopback)")
	flag.Parse()
	if *root == "" || *dir == "" || *ready == "" {
		flag.Usage()
		os.Exit(2)
	}
	// git-http-backend runs in its own directory: every path it is given is absolute.
	for _, p := range []*string{root, dir, ready} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			log.Fatal(err)
		}
		*p = abs
	}
	users, err := parseUsers(*usersFlag)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	backend, err := gitBackend()
	if err != nil {
		log.Fatal(err)
	}

	for _, addr := range []string{*httpsAddr, *sshAddr} {
		if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
			log.Fatalf("%s: listen on a loopback address only", addr)
		}
	}
	httpsURL, err := serveHTTPS(*root, *dir, *httpsAddr, backend, users)
	if err != nil {
		log.Fatal(err)
	}
	sshURL, knownHosts, err := serveSSH(*root, *dir, *sshAddr, *authorized)
	if err != nil {
		log.Fatal(err)
	}
	out, _ := json.Marshal(map[string]string{
		"https":       httpsURL,
		"ssh":         sshURL,
		"ca_file":     filepath.Join(*dir, "ca.pem"),
		"known_hosts": knownHosts,
	})
	if err := os.WriteFile(*ready+".partial", out, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(*ready+".partial", *ready); err != nil {
		log.Fatal(err)
	}
	log.Printf("serving %s and %s over %s", httpsURL, sshURL, *root)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	parent := os.Getppid()
	for {
		select {
		case <-stop:
			return
		case <-time.After(500 * time.Millisecond):
			// The process that started the server is gone: stop with it.
			if os.Getppid() != parent {
				return
			}
		}
	}
}

func parseUsers(raw string) (map[string]user, error) {
	users := map[string]user{}
	for _, entry := range strings.Split(raw, ",") {
		if entry == "" {
			continue
		}
		parts := strings.Split(entry, ":")
		if len(parts) != 3 || (parts[2] != "rw" && parts[2] != "ro") {
			return nil, fmt.Errorf("--users: %q is not name:password:rw|ro", entry)
		}
		users[parts[0]] = user{password: parts[1], write: parts[2] == "rw"}
	}
	return users, nil
}

// gitBackend is the path of git-http-backend in this machine's Git.
func gitBackend() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("git --exec-path: %w", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	return path, nil
}

// repoPath maps a request's repository path onto a bare repository under root, or fails
// for anything that leaves it.
func repoPath(root, raw string) (string, error) {
	name := strings.Trim(strings.TrimSpace(raw), "'\"/")
	clean := filepath.Clean("/" + name)
	if clean == "/" || strings.Contains(name, "..") {
		return "", errors.New("no such repository")
	}
	path := filepath.Join(root, clean)
	if _, err := os.Stat(filepath.Join(path, "HEAD")); err != nil {
		return "", errors.New("no such repository")
	}
	return path, nil
}

func serveHTTPS(root, dir, addr, backend string, users map[string]user) (string, error) {
	cert, err := makeCertificate(dir)
	if err != nil {
		return "", err
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, password, ok := r.BasicAuth()
		u, known := users[name]
		if !ok || !known || u.password != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		pushing := r.URL.Query().Get("service") == "git-receive-pack" ||
			strings.HasSuffix(r.URL.Path, "/git-receive-pack")
		if pushing && !u.write {
			http.Error(w, "this user may not push", http.StatusForbidden)
			return
		}
		// libgit2 sends pushes chunked; CGI needs a length, so the body is read first (a
		// real Git host takes chunked bodies as they come).
		if len(r.TransferEncoding) > 0 {
			body, err := io.ReadAll(io.LimitReader(r.Body, 512<<20))
			if err != nil {
				http.Error(w, "cannot read the body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.TransferEncoding = nil
		}
		(&cgi.Handler{
			Path: backend,
			Env: []string{
				"GIT_PROJECT_ROOT=" + root,
				"GIT_HTTP_EXPORT_ALL=1",
				"REMOTE_USER=" + name,
			},
		}).ServeHTTP(w, r)
	})
	server := &http.Server{
		Handler:           handler,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { log.Print(server.ServeTLS(listener, "", "")) }()
	return "https://" + listener.Addr().String(), nil
}

// makeCertificate makes a certificate for 127.0.0.1 and localhost, signed by the CA of dir
// (ca.pem and ca.key, made on the first start and kept, so a restarted host is trusted as
// before).
func makeCertificate(dir string) (tls.Certificate, error) {
	caCert, caKey, err := loadOrMakeCA(dir)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, caCert, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func loadOrMakeCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if certPEM, err := os.ReadFile(certFile); err == nil {
		if keyPEM, err := os.ReadFile(keyFile); err == nil {
			cb, _ := pem.Decode(certPEM)
			kb, _ := pem.Decode(keyPEM)
			if cb != nil && kb != nil {
				cert, err1 := x509.ParseCertificate(cb.Bytes)
				key, err2 := x509.ParseECPrivateKey(kb.Bytes)
				if err1 == nil && err2 == nil && time.Now().Before(cert.NotAfter) {
					return cert, key, nil
				}
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Berth test Git host CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func serveSSH(root, dir, addr, authorizedFile string) (string, string, error) {
	allowed := map[string]bool{}
	if authorizedFile != "" {
		data, err := os.ReadFile(authorizedFile)
		if err != nil {
			return "", "", err
		}
		for len(bytes.TrimSpace(data)) > 0 {
			key, _, _, rest, err := ssh.ParseAuthorizedKey(data)
			if err != nil {
				return "", "", fmt.Errorf("--authorized-keys: %w", err)
			}
			allowed[string(key.Marshal())] = true
			data = rest
		}
	}
	hostKey, err := loadOrMakeHostKey(filepath.Join(dir, "ssh_host_ed25519_key"))
	if err != nil {
		return "", "", err
	}
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if allowed[string(key.Marshal())] {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	config.AddHostKey(hostKey)
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return "", "", err
	}
	port := listener.Addr().(*net.TCPAddr).Port
	knownHosts := fmt.Sprintf("[127.0.0.1]:%d %s", port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostKey.PublicKey()))))
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(knownHosts+"\n"), 0o644); err != nil {
		return "", "", err
	}
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				log.Print(err)
				return
			}
			go handleSSH(conn, config, root)
		}
	}()
	return fmt.Sprintf("ssh://git@127.0.0.1:%d", port), knownHosts, nil
}

// loadOrMakeHostKey keeps the SSH host key across restarts, as a real host does.
func loadOrMakeHostKey(path string) (ssh.Signer, error) {
	if data, err := os.ReadFile(path); err == nil {
		if key, err := ssh.ParsePrivateKey(data); err == nil {
			return key, nil
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

func handleSSH(conn net.Conn, config *ssh.ServerConfig, root string) {
	defer conn.Close()
	_, channels, requests, err := ssh.NewServerConn(conn, config)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(requests)
	for incoming := range channels {
		if incoming.ChannelType() != "session" {
			_ = incoming.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		channel, reqs, err := incoming.Accept()
		if err != nil {
			continue
		}
		go session(channel, reqs, root)
	}
}

// session runs one `exec` of git-upload-pack or git-receive-pack against a repository under
// root; anything else is refused.
func session(channel ssh.Channel, reqs <-chan *ssh.Request, root string) {
	defer channel.Close()
	for req := range reqs {
		if req.Type != "exec" || len(req.Payload) < 4 {
			_ = req.Reply(false, nil)
			continue
		}
		length := binary.BigEndian.Uint32(req.Payload)
		command := string(req.Payload[4:])
		if int(length) != len(command) {
			_ = req.Reply(false, nil)
			continue
		}
		program, arg, _ := strings.Cut(command, " ")
		if program != "git-upload-pack" && program != "git-receive-pack" {
			_ = req.Reply(false, nil)
			continue
		}
		path, err := repoPath(root, arg)
		if err != nil {
			_ = req.Reply(true, nil)
			fmt.Fprintf(channel.Stderr(), "%v\n", err)
			exit(channel, 1)
			return
		}
		_ = req.Reply(true, nil)
		cmd := exec.Command("git", strings.TrimPrefix(program, "git-"), path)
		cmd.Stdin = channel
		cmd.Stdout = channel
		cmd.Stderr = channel.Stderr()
		code := 0
		if err := cmd.Run(); err != nil {
			code = 1
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			}
		}
		_ = channel.CloseWrite()
		exit(channel, code)
		return
	}
}

func exit(channel ssh.Channel, code int) {
	status := make([]byte, 4)
	binary.BigEndian.PutUint32(status, uint32(code))
	_, _ = channel.SendRequest("exit-status", false, status)
}
