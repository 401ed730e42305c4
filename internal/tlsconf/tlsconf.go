// Package tlsconf turns the TLS settings of the configuration into
// crypto/tls configurations: the SMPP over TLS listener's, whose files are
// read again on every reload, and each upstream's. It starts no
// goroutines.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"

	"github.com/smppmux/smppmux/config"
)

// Server is the listener's TLS configuration. Reload swaps it whole;
// connections already up keep theirs.
type Server struct {
	cur atomic.Pointer[tls.Config]
}

// NewServer loads cfg's files.
func NewServer(cfg config.TLS) (*Server, error) {
	s := &Server{}
	return s, s.Reload(cfg)
}

// Reload reads cfg's files again. On error the configuration in use stays.
func (s *Server) Reload(cfg config.TLS) error {
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.ClientCAFile != "" {
		pool, err := loadPool(cfg.ClientCAFile)
		if err != nil {
			return fmt.Errorf("tls.client_ca_file: %w", err)
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.VerifyClientCertIfGiven
		if cfg.RequireClientCert {
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	s.cur.Store(c)
	return nil
}

// Config returns the configuration for tls.NewListener: every handshake
// uses the one loaded last.
func (s *Server) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load(), nil
		},
	}
}

// Client returns the configuration for dialling the upstream at addr, nil
// when cfg does not enable TLS.
func Client(cfg config.UpstreamTLS, addr string) (*tls.Config, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		c.ServerName = host
	}
	if cfg.CAFile != "" {
		pool, err := loadPool(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		c.RootCAs = pool
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in " + file)
	}
	return pool, nil
}
