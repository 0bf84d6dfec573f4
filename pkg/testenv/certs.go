package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a throw-away certificate authority for tests of TLS checks: it
// issues server certificates with any validity period, expired ones
// included.
type CA struct {
	// Cert is the CA's self-signed certificate.
	Cert *x509.Certificate
	// PEM is Cert PEM-encoded, as a root CA file holds it.
	PEM []byte
	key *ecdsa.PrivateKey
}

// NewCA returns a CA valid from an hour ago for ten years.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "Server Check test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	fatalIf(t, err)
	cert, err := x509.ParseCertificate(der)
	fatalIf(t, err)
	return &CA{Cert: cert, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}
}

// Pool returns a pool trusting only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue returns a server certificate signed by the CA for hosts (DNS names
// or IP addresses), valid until notAfter (from a day before it when
// notAfter is in the past, else from an hour ago).
func (ca *CA) Issue(t testing.TB, notAfter time.Time, hosts ...string) tls.Certificate {
	t.Helper()
	return leaf(t, ca.Cert, ca.key, notAfter, hosts)
}

// SelfSigned returns a self-signed server certificate for hosts, valid
// until notAfter.
func SelfSigned(t testing.TB, notAfter time.Time, hosts ...string) tls.Certificate {
	t.Helper()
	return leaf(t, nil, nil, notAfter, hosts)
}

func leaf(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, notAfter time.Time, hosts []string) tls.Certificate {
	t.Helper()
	key := newKey(t)
	notBefore := time.Now().Add(-time.Hour)
	if !notAfter.After(notBefore) {
		notBefore = notAfter.Add(-24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	fatalIf(t, err)
	cert, err := x509.ParseCertificate(der)
	fatalIf(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fatalIf(t, err)
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	fatalIf(t, err)
	return n
}

// fatalIf ends the test on err; the certificate helpers cannot fail but on
// a broken entropy source.
func fatalIf(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("testenv: certificate: %v", err)
	}
}
