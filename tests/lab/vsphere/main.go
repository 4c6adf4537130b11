// Command vsphere is the lab's vSphere API: the govmomi simulator (vcsim) with a model filled from
// the lab's hostd, plus what vcsim lacks (HostServiceSystem, free-license restrictions, VM
// operations that reach the lab VM, a vCenter's host states). One process serves either one
// simulated ESXi host (ESX model) or, with -vcenter, a vCenter managing several lab hosts (VPX
// model; one -hostd name=address per host). See tests/lab/ARCHITECTURE.md for the hostd
// request protocol.
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

// hostdFlags collects -hostd: "address:port" (a standalone host) or "name=address:port" (a
// vCenter's host; repeated, in the cluster's order).
type hostdFlags []string

func (f *hostdFlags) String() string { return strings.Join(*f, ",") }

func (f *hostdFlags) Set(v string) error {
	*f = append(*f, v)
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.10.1:443", "HTTPS address to serve /sdk on")
	var hostdAddrs hostdFlags
	flag.Var(&hostdAddrs, "hostd", "the host's hostd request server (default 127.0.10.1:8307); with -vcenter, "+
		"name=address:port of each managed host (repeat)")
	vcenter := flag.Bool("vcenter", false, "serve a vCenter managing the -hostd hosts instead of one ESXi host")
	datacenter := flag.String("datacenter", "DC1", "-vcenter: the datacenter's name")
	cluster := flag.String("cluster", "Lab", "-vcenter: the cluster's name")
	license := flag.String("license", "licensed", "free | licensed (a vCenter is always licensed)")
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
	if *vcenter && *license == "free" {
		log.Fatal("-license free is for a standalone host; a vCenter is licensed")
	}
	if *password == "" {
		log.Fatal("-password is required")
	}
	if len(hostdAddrs) == 0 && !*vcenter {
		hostdAddrs = hostdFlags{"127.0.10.1:8307"}
	}
	if len(hostdAddrs) == 0 || (!*vcenter && len(hostdAddrs) > 1) {
		log.Fatal("-hostd: one address, or with -vcenter one or more name=address")
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

	ctx := context.Background()
	var model *simulator.Model
	var hosts []*hostLink
	var about types.AboutInfo
	if *vcenter {
		model, hosts, err = vcenterLab(ctx, hostdAddrs, *datacenter, *cluster, dsDir)
		about = vcenterAbout()
		setLicense(model, types.LicenseManagerLicenseInfo{EditionKey: "vc.standard.instance",
			Name: "VMware vCenter Server 8 Standard"})
	} else {
		var inv *inventory
		model, hosts, inv, err = esxLab(ctx, &hostd{addr: hostdAddrs[0]}, dsDir)
		if err == nil {
			about = aboutInfo(inv)
			setLicense(model, esxLicense(*license == "free", inv.Version))
		}
	}
	if err != nil {
		log.Fatal(err)
	}

	cert, err := loadOrCreateCert(*certFile, *keyFile, *listen)
	if err != nil {
		log.Fatal(err)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}
	server := model.Service.NewServer() // listens and serves at once
	// Put the gate in front of vcsim's mux. NewServer builds the mux and starts serving in one
	// step, so the handler is swapped just after; clients wait for the ready file written below.
	gate := &lab{next: server.Config.Handler, hosts: hosts, vcenter: *vcenter, free: *license == "free",
		apiVersion: about.ApiVersion, user: *username, pass: *password}
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
	nvms := 0
	names := make([]string, len(hosts))
	for i, h := range hosts {
		nvms += len(h.vms.vms)
		names[i] = h.name
	}
	log.Printf("serving %s (%s, %s license, hosts %s, %d VMs)", sdk.String(), about.FullName, *license,
		strings.Join(names, " "), nvms)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	close(stopPush)
	// No server.Close(): it waits for open requests, and a client's WaitForUpdatesEx may never end.
	_ = os.RemoveAll(dsDir)
	log.Printf("stopped")
}

// waitInventory reads a host's inventory; hostd may be starting alongside us, so it gets a few seconds.
func waitInventory(h *hostd) (*inventory, error) {
	inv, err := h.inventory()
	for wait := 0; err != nil && wait < 100; wait++ {
		time.Sleep(100 * time.Millisecond)
		inv, err = h.inventory()
	}
	if err != nil {
		return nil, fmt.Errorf("hostd %s inventory: %v", h.addr, err)
	}
	return inv, nil
}

// esxLab builds a standalone host's model from its hostd.
func esxLab(ctx context.Context, h *hostd, dsDir string) (*simulator.Model, []*hostLink, *inventory, error) {
	inv, err := waitInventory(h)
	if err != nil {
		return nil, nil, nil, err
	}
	model, err := newModel(inv)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		return nil, nil, nil, err
	}
	host := simulator.Map.Get(esx.HostSystem.Reference()).(*simulator.HostSystem)
	link, err := newHostLink(ctx, c, h, inv, host, esx.Datacenter.Reference(), dsDir, false)
	return model, []*hostLink{link}, inv, err
}

// vcenterLab builds a vCenter's model from its hosts' hostd (-hostd name=address each).
func vcenterLab(ctx context.Context, addrs []string, dcName, clusterName, dsDir string) (*simulator.Model, []*hostLink, error) {
	var hostds []*hostd
	for _, a := range addrs {
		name, addr := "", a
		if i := strings.IndexByte(a, '='); i >= 0 {
			name, addr = a[:i], a[i+1:]
		}
		if name == "" || addr == "" {
			return nil, nil, fmt.Errorf("-hostd %q: with -vcenter, name=address:port", a)
		}
		hostds = append(hostds, &hostd{addr: addr, name: name})
	}
	model, err := newVCenterModel()
	if err != nil {
		return nil, nil, err
	}
	c, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		return nil, nil, err
	}
	hosts, err := vcenterHosts(ctx, c, hostds, dcName, clusterName, dsDir)
	return model, hosts, err
}

// newHostLink models one host's datastores, VMs and HostServiceSystem from its hostd inventory.
func newHostLink(ctx context.Context, c *vim25.Client, h *hostd, inv *inventory, host *simulator.HostSystem,
	dc types.ManagedObjectReference, dsDir string, vcenter bool) (*hostLink, error) {
	vms := &vmModel{c: c, host: host.Self, dc: dc, dsDir: dsDir, api: aboutInfo(inv).ApiVersion,
		nestedOK: inv.NestedHVSupported, vcenter: vcenter, vms: make(map[string]*simulator.VirtualMachine)}
	if err := vms.addDatastores(ctx, inv.Datastores); err != nil {
		return nil, err
	}
	vms.sync(ctx, inv.VMs)
	services := newServiceSystem(*host.ConfigManager.ServiceSystem, h)
	services.refresh()
	simulator.Map.Put(services)
	return &hostLink{name: inv.Name, ref: host.Self, hostd: h, vms: vms, services: services}, nil
}

// esxLicense is what a host's license manager reports for the mode.
func esxLicense(free bool, version string) types.LicenseManagerLicenseInfo {
	major := strings.SplitN(version, ".", 2)[0]
	if free {
		return types.LicenseManagerLicenseInfo{EditionKey: "esxBasic", Name: fmt.Sprintf("VMware vSphere %s Hypervisor", major)}
	}
	return types.LicenseManagerLicenseInfo{EditionKey: "esxEnterprisePlus", Name: fmt.Sprintf("VMware vSphere %s Enterprise Plus", major)}
}

// setLicense shows the license in the license manager (clients may look).
func setLicense(m *simulator.Model, lic types.LicenseManagerLicenseInfo) {
	lic.LicenseKey = "00000-00000-00000-00000-00000"
	lm := simulator.Map.Get(*m.ServiceContent.LicenseManager).(*simulator.LicenseManager)
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
