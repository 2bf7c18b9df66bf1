// Command idp is the OpenID Connect provider Berth's tests and demo sign in through.
//
// It is zitadel/oidc's OpenID provider (pkg/op, OpenID Foundation certified) with the
// library's example login page and in-memory storage, plus what a company's provider has
// and the example lacks: users from a file with their groups, a `groups` claim in the ID
// token (as Dex, Okta and Keycloak send it), redirect URIs matched by glob (Berth's tests
// serve on random loopback ports) and TLS, because kube-apiserver trusts only an https
// issuer. It listens on loopback only. Each start makes a new signing key, so a restart is
// a key rotation.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// person is one line of the users file.
type person struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Password string   `json:"password"`
	Email    string   `json:"email"`
	Given    string   `json:"given_name"`
	Family   string   `json:"family_name"`
	Groups   []string `json:"groups"`
	// EmailVerified defaults to true; false plays a provider that does not vouch for it.
	EmailVerified *bool `json:"email_verified"`
}

type users struct {
	byID   map[string]*storage.User
	groups map[string][]string
}

func (u users) GetUserByID(id string) *storage.User { return u.byID[id] }

func (u users) GetUserByUsername(name string) *storage.User {
	for _, user := range u.byID {
		if user.Username == name {
			return user
		}
	}
	return nil
}

func (u users) ExampleClientID() string { return storage.ServiceUserID }

func readUsers(path string) (users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return users{}, err
	}
	var people []person
	if err := json.Unmarshal(data, &people); err != nil {
		return users{}, fmt.Errorf("%s: %w", path, err)
	}
	u := users{byID: map[string]*storage.User{}, groups: map[string][]string{}}
	for _, p := range people {
		verified := p.EmailVerified == nil || *p.EmailVerified
		u.byID[p.ID] = &storage.User{
			ID: p.ID, Username: p.Username, Password: p.Password,
			FirstName: p.Given, LastName: p.Family,
			Email: p.Email, EmailVerified: verified, PreferredLanguage: language.English,
		}
		u.groups[p.ID] = p.Groups
	}
	return u, nil
}

// provider is the example storage with groups, glob redirects and full ID tokens.
type provider struct {
	*storage.Storage
	users users
	globs []string
}

// client makes every registered client take redirect URIs by glob and put the user's
// claims in the ID token.
type client struct {
	op.Client
	globs []string
}

func (c client) RedirectURIGlobs() []string           { return c.globs }
func (c client) PostLogoutRedirectURIGlobs() []string { return c.globs }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c client) IsScopeAllowed(scope string) bool {
	return scope == "groups" || c.Client.IsScopeAllowed(scope)
}
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

func (p *provider) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := p.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return client{Client: c, globs: p.globs}, nil
}

func (p *provider) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := p.Storage.SetUserinfoFromRequest(ctx, info, req, scopes); err != nil {
		return err
	}
	if slices.Contains(scopes, "groups") {
		info.AppendClaims("groups", p.users.groups[req.GetSubject()])
	}
	return nil
}

func (p *provider) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := p.Storage.SetUserinfoFromToken(ctx, info, tokenID, subject, origin); err != nil {
		return err
	}
	info.AppendClaims("groups", p.users.groups[info.Subject])
	return nil
}

// certificate returns a serving certificate for 127.0.0.1 signed by the CA in dir (ca.pem,
// which Berth and kube-apiserver trust, and ca-key.pem), made on first use and kept across
// restarts, so a restart changes the signing key of ID tokens but not the TLS trust.
func certificate(dir string) (tls.Certificate, error) {
	caCert, caKey, err := loadCA(dir)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if certPEM, err := os.ReadFile(certFile); err == nil {
		keyPEM, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, nil, err
		}
		certBlock, _ := pem.Decode(certPEM)
		keyBlock, _ := pem.Decode(keyPEM)
		if certBlock == nil || keyBlock == nil {
			return nil, nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
		}
		cert, err := x509.ParseCertificate(certBlock.Bytes)
		if err != nil {
			return nil, nil, err
		}
		key, err := x509.ParseECPrivateKey(keyBlock.Bytes)
		return cert, key, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "berth test identity provider CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	usersFile := flag.String("users", "", "JSON list of users: id, username, password, email, given_name, family_name, groups")
	clients := flag.String("clients", "berth:berth-test-secret", "comma-separated id:secret of confidential web clients")
	redirects := flag.String("redirect-globs", "http://127.0.0.1:*/auth/oidc/callback,http://localhost:*/auth/oidc/callback", "comma-separated redirect URI globs")
	dir := flag.String("dir", ".", "where the CA (ca.pem, ca-key.pem) is kept")
	ready := flag.String("ready-file", "", "written with the issuer URL once serving")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("--listen must be a loopback address, not %q", *listen)
	}
	people, err := readUsers(*usersFile)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range strings.Split(*clients, ",") {
		id, secret, ok := strings.Cut(c, ":")
		if !ok {
			log.Fatalf("--clients: %q is not id:secret", c)
		}
		storage.RegisterClients(storage.WebClient(id, secret, "https://unused.invalid/"))
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	cert, err := certificate(*dir)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	issuer := "https://" + ln.Addr().String()
	store := &provider{Storage: storage.NewStorage(people), users: people, globs: strings.Split(*redirects, ",")}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	router := exampleop.SetupServer(issuer, store, logger, false)
	server := &http.Server{Handler: router, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}

	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	if *ready != "" {
		if err := writeAtomic(*ready, []byte(issuer+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	logger.Info("identity provider serving", "issuer", issuer)
	if err := server.ServeTLS(ln, "", ""); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
