// Command vsphere is the lab's vSphere API for one simulated ESXi host: the govmomi simulator
// (vcsim) with an ESX model filled from that host's hostd, plus what vcsim lacks
// (HostServiceSystem, free-license restrictions, VM operations that reach the lab VM).
// See tests/lab/ARCHITECTURE.md for the hostd request protocol.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	listen := flag.String("listen", "127.0.10.1:443", "HTTPS address to serve /sdk on")
	hostdAddr := flag.String("hostd", "127.0.10.1:8307", "this host's hostd request server")
	license := flag.String("license", "licensed", "free | licensed")
	username := flag.String("username", "root", "the only accepted user name")
	password := flag.String("password", "", "the only accepted password")
	certFile := flag.String("cert", "", "PEM certificate to serve (default: generate a self-signed one)")
	keyFile := flag.String("key", "", "PEM private key for -cert")
	certOut := flag.String("cert-out", "", "write the served certificate (PEM) here, for clients to trust")
	readyFile := flag.String("ready-file", "", "written once the server listens")
	workdir := flag.String("workdir", "", "private state: vcsim's datastore directories (default: a temporary directory)")
	pushPeriod := flag.Duration("push", 200*time.Millisecond,
		"how often hostd's VM state is pulled for waiting property collectors, as ESXi pushes it (0: only on reads)")
	flag.Parse()
	log.SetPrefix("vsphere-sim: ")

	if *license != "free" && *license != "licensed" {
		log.Fatalf("-license must be free or licensed, not %q", *license)
	}
	if *password == "" {
		log.Fatal("-password is required")
	}
	// vcsim panics with a stack trace if it cannot listen; say it plainly instead.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	_ = ln.Close()
	dsDir := filepath.Join(*workdir, "datastores")
	if *workdir == "" {
		if dsDir, err = ioutil.TempDir("", "vsphere-sim-datastores-"); err != nil {
			log.Fatal(err)
		}
	}

	// hostd may be starting alongside us: give it a few seconds.
	h := &hostd{addr: *hostdAddr}
	inv, err := h.inventory()
	for wait := 0; err != nil && wait < 100; wait++ {
		time.Sleep(100 * time.Millisecond)
		inv, err = h.inventory()
	}
	if err != nil {
		log.Fatalf("hostd inventory: %v", err)
	}

	model, err := newModel(inv)
	if err != nil {
		log.Fatal(err)
	}
	setLicense(*license == "free", inv.Version)

	ctx := context.Background()
	client, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		log.Fatal(err)
	}
	vms := &vmModel{c: client, dsDir: dsDir, api: aboutInfo(inv).ApiVersion, nestedOK: inv.NestedHVSupported,
		vms: make(map[string]*simulator.VirtualMachine)}
	if err = vms.addDatastores(ctx, inv.Datastores); err != nil {
		log.Fatal(err)
	}
	vms.sync(ctx, inv.VMs)

	host := simulator.Map.Get(esx.HostSystem.Reference()).(*simulator.HostSystem)
	services := newServiceSystem(*host.ConfigManager.ServiceSystem, h)
	services.refresh()
	simulator.Map.Put(services)

	cert, err := loadOrCreateCert(*certFile, *keyFile, *listen)
	if err != nil {
		log.Fatal(err)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}
	server := model.Service.NewServer() // listens and serves at once
	// Put the gate in front of vcsim's mux. NewServer builds the mux and starts serving in one
	// step, so the handler is swapped just after; clients wait for the ready file written below.
	gate := &lab{next: server.Config.Handler, hostd: h, free: *license == "free",
		apiVersion: aboutInfo(inv).ApiVersion, user: *username, pass: *password, vms: vms, services: services}
	server.Config.Handler = gate
	stopPush := make(chan struct{})
	if *pushPeriod > 0 {
		go gate.push(*pushPeriod, stopPush)
	}

	if *certOut != "" {
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
		if err = writeAtomic(*certOut, pemBytes); err != nil {
			log.Fatal(err)
		}
	}
	sdk := *server.URL
	sdk.User = nil // vcsim puts the credentials in its URL; keep them out of files and logs
	if *readyFile != "" {
		if err = writeAtomic(*readyFile, []byte(sdk.String()+"\n")); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("serving %s (%s %s build-%s, %s license, %d VMs)", sdk.String(), inv.Name, inv.Version,
		inv.Build, *license, len(vms.vms))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	close(stopPush)
	// No server.Close(): it waits for open requests, and a client's WaitForUpdatesEx may never end.
	_ = os.RemoveAll(dsDir)
	log.Printf("stopped")
}

// setLicense shows what the host's license manager reports for the mode (clients may look).
func setLicense(free bool, version string) {
	major := strings.SplitN(version, ".", 2)[0]
	lic := types.LicenseManagerLicenseInfo{LicenseKey: "00000-00000-00000-00000-00000", Total: 0, Used: 0}
	if free {
		lic.EditionKey, lic.Name = "esxBasic", fmt.Sprintf("VMware vSphere %s Hypervisor", major)
	} else {
		lic.EditionKey, lic.Name = "esxEnterprisePlus", fmt.Sprintf("VMware vSphere %s Enterprise Plus", major)
	}
	lm := simulator.Map.Get(*esx.ServiceContent.LicenseManager).(*simulator.LicenseManager)
	lm.Licenses = []types.LicenseManagerLicenseInfo{lic}
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := ioutil.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// loadOrCreateCert returns the lab-provided certificate or a fresh self-signed one whose
// subject alternative name is the listen address, so clients can verify it normally.
func loadOrCreateCert(certFile, keyFile, listen string) (tls.Certificate, error) {
	if certFile != "" {
		return tls.LoadX509KeyPair(certFile, keyFile)
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host, Organization: []string{"VMware ESXi lab"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: it is its own trust anchor
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
