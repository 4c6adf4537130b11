package main

// The HTTP gate in front of vcsim's /sdk handler. vcsim dispatches SOAP calls by reflection on
// the objects in its registry, and wrapping those objects breaks vcsim's own type assertions,
// so everything the lab adds to existing objects happens here, before vcsim sees a request:
//   - ESXi's InvalidLogin message for wrong credentials;
//   - free license: every call that is not a read fails with RestrictedVersion;
//   - reads of VMs / services first pull hostd's current state (changes made over SSH), and
//     VM changes are pushed to waiting property collectors every -push period (lab.push);
//   - licensed "second door": VM writes that hostd owns (nested HV, power) go to the hostd of
//     the VM's own host first; extraConfig is kept in the model (extraconfig.go);
//   - a vCenter's host states (vcenter.go): maintenance mode and disconnection, and the VM
//     operations they refuse.
// One gate serves a standalone host (one hostLink) or a vCenter (one hostLink per managed host).

import (
	"bytes"
	"context"
	"fmt"
	"io/ioutil"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

const (
	restrictedMsg   = "Current license or ESXi version prohibits execution of the requested operation."
	invalidLoginMsg = "Cannot complete login due to an incorrect user name or password."
)

type lab struct {
	next       http.Handler // vcsim's mux
	hosts      []*hostLink
	vcenter    bool // a vCenter's gate: host states apply (vcenter.go)
	free       bool
	apiVersion string
	user, pass string
	mu         sync.Mutex // serialises refreshes and door operations (hostd requests + model edits)
}

// hostLink is one lab host as the simulator sees it: its hostd, its modelled VMs and services.
type hostLink struct {
	name         string
	ref          types.ManagedObjectReference // its HostSystem
	hostd        *hostd
	vms          *vmModel
	services     *serviceSystem
	disconnected bool // vCenter: DisconnectHost_Task; its hostd is not asked until reconnected
}

// pull brings hostd's inventory into the host's VM model (one request); a disconnected host's
// VMs stay as they were.
func (h *hostLink) pull() error {
	if h.disconnected {
		return nil
	}
	inv, err := h.hostd.inventory()
	if err != nil {
		return fmt.Errorf("%s: %v", h.name, err)
	}
	h.vms.sync(context.Background(), inv.VMs)
	return nil
}

// Calls a free-license host still answers: session handling, property collection, views,
// lookups. Everything else counts as a write (an allow list, so no write slips through).
var readMethods = map[string]bool{
	"RetrieveServiceContent": true, "Login": true, "LoginByToken": true, "Logout": true,
	"LoginExtensionByCertificate": true, "SessionIsActive": true, "AcquireCloneTicket": true,
	"CloneSession": true, "SetLocale": true, "CurrentTime": true, "CreateFilter": true,
	"DestroyPropertyFilter": true, "CreatePropertyCollector": true, "DestroyPropertyCollector": true,
	"WaitForUpdates": true, "WaitForUpdatesEx": true, "CheckForUpdates": true,
	"CancelWaitForUpdates": true, "ContinueRetrievePropertiesEx": true, "CancelRetrievePropertiesEx": true,
	"CreateContainerView": true, "CreateListView": true, "CreateListViewFromView": true,
	"CreateInventoryView": true, "DestroyView": true, "CreateCollectorForEvents": true,
	"CreateCollectorForTasks": true, "DestroyCollector": true, "ResetCollector": true,
	"RewindCollector": true, "SetCollectorPageSize": true,
	"SearchDatastore_Task": true, "SearchDatastoreSubFolders_Task": true,
}

var readPrefixes = []string{"Retrieve", "Query", "Find", "Fetch", "Read", "Has", "Refresh"}

func isRead(name string) bool {
	if readMethods[name] {
		return true
	}
	for _, p := range readPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Property reads of these types may show VMs, so they pull hostd's inventory first.
var vmViewTypes = map[string]bool{
	"VirtualMachine": true, "HostSystem": true, "Folder": true, "ResourcePool": true,
	"ContainerView": true, "Datastore": true,
}

func (l *lab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == vim25.Path+"/vimServiceVersions.xml" {
		l.serviceVersions(w)
		return
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, vim25.Path) {
		body, err := ioutil.ReadAll(r.Body)
		_ = r.Body.Close()
		r.Body = ioutil.NopCloser(bytes.NewReader(body))
		if err == nil {
			// Undecodable requests go on unchanged: vcsim answers them with its own fault.
			if m, err := simulator.UnmarshalBody(types.TypeFunc(), body); err == nil && l.intercept(w, r, m) {
				return
			}
		}
	}
	l.next.ServeHTTP(w, r)
}

// apiVersions in release order; a host lists its own and every earlier one.
var apiVersions = []string{"2.5", "4.0", "4.1", "5.0", "5.1", "5.5", "6.0", "6.5", "6.7", "6.7.1", "6.7.2",
	"6.7.3", "7.0.0.0", "7.0.1.0", "7.0.2.0", "7.0.3.0", "8.0.0.0", "8.0.1.0", "8.0.2.0", "8.0.3.0"}

// serviceVersions replaces vcsim's vimServiceVersions.xml, which always offers 6.0: clients
// pick the newest version offered, and a 5.x host must not be talked to in a 6.x dialect.
func (l *lab) serviceVersions(w http.ResponseWriter) {
	var prior strings.Builder
	for i, v := range apiVersions {
		if v == l.apiVersion {
			for j := i - 1; j >= 0; j-- { // newest first, as ESXi lists them
				prior.WriteString("\n   <version>" + apiVersions[j] + "</version>")
			}
		}
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, "%s<namespaces version=\"1.0\">\n <namespace>\n  <name>urn:vim25</name>\n  <version>%s</version>\n"+
		"  <priorVersions>%s\n  </priorVersions>\n </namespace>\n</namespaces>\n", xml.Header, l.apiVersion, prior.String())
}

// intercept answers the request itself (true) or lets vcsim handle it (false).
func (l *lab) intercept(w http.ResponseWriter, r *http.Request, m *simulator.Method) bool {
	if req, ok := m.Body.(*types.Login); ok {
		if req.UserName != l.user || req.Password != l.pass {
			writeFault(w, invalidLoginMsg, &types.InvalidLogin{})
			return true
		}
		return false
	}
	if _, err := r.Cookie(soap.SessionCookieName); err != nil {
		return false // no session: vcsim answers NotAuthenticated (or serves the few anonymous calls)
	}
	if l.free && !isRead(m.Name) {
		log.Printf("free license: %s on %s refused", m.Name, m.This)
		writeFault(w, restrictedMsg, &types.RestrictedVersion{})
		return true
	}

	// What the lab does before vcsim answers (nil: nothing). Only these take the lab lock, so a
	// long hostd request never holds up unrelated calls such as WaitForUpdatesEx.
	var act func() bool
	var after func() // a door write's part after vcsim's (under the lab lock)
	hold := false    // a door write: vcsim's part runs under the lab lock too (see below)
	refresh := func(kinds map[string]bool) func() bool {
		return func() bool { l.refreshFor(kinds); return false }
	}
	switch req := m.Body.(type) {
	case *types.RetrievePropertiesEx:
		act = refresh(specKinds(req.SpecSet))
	case *types.RetrieveProperties:
		act = refresh(specKinds(req.SpecSet))
	case *types.FindByInventoryPath, *types.FindChild, *types.FindByDatastorePath, *types.FindByUuid,
		*types.CreateContainerView:
		act = refresh(map[string]bool{"VirtualMachine": true})
	case *types.ReconfigVM_Task:
		act, hold = func() bool {
			handled, fix := l.reconfig(w, m, req)
			after = fix
			return handled
		}, true
	case *types.PowerOnVM_Task:
		act, hold = func() bool {
			return l.power(w, m, "powerOn", "vmsvc/power.on", types.VirtualMachinePowerStatePoweredOn)
		}, true
	case *types.PowerOffVM_Task:
		act, hold = func() bool {
			return l.power(w, m, "powerOff", "vmsvc/power.off", types.VirtualMachinePowerStatePoweredOff)
		}, true
	case *types.ShutdownGuest:
		act = func() bool { return l.shutdown(w, m) }
	}
	if m.Name == "Fetch" { // pyvmomi 8+ reads one property of one object (vm.runtime.powerState)
		act = refresh(map[string]bool{m.This.Type: true})
	}
	if l.vcenter && act == nil {
		act = l.vcenterCall(w, m)
	}
	if act == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if handled := act(); handled || !hold {
		return handled
	}
	// A write hostd already made: vcsim applies it to the model under the same lock, so a push
	// (or another client's refresh) cannot slip in between and show vcsim the state it is
	// about to set, which would fail its own power task with InvalidPowerState.
	l.next.ServeHTTP(w, r)
	if after != nil {
		after()
	}
	return true
}

// specKinds lists the managed object types a property collector request reads.
func specKinds(specs []types.PropertyFilterSpec) map[string]bool {
	kinds := make(map[string]bool)
	for _, s := range specs {
		for _, p := range s.PropSet {
			kinds[p.Type] = true
		}
		for _, o := range s.ObjectSet {
			kinds[o.Obj.Type] = true
		}
	}
	return kinds
}

// refreshFor pulls from hostd what reads of these types show: at most one request each per host.
func (l *lab) refreshFor(kinds map[string]bool) {
	if kinds["HostServiceSystem"] {
		for _, h := range l.hosts {
			if !h.disconnected {
				simulator.Map.WithLock(h.services, h.services.refresh)
			}
		}
	}
	for k := range kinds {
		if vmViewTypes[k] {
			l.refreshVMs()
			return
		}
	}
}

// refreshVMs pulls hostd's inventory into the model (one request). On error the model stays.
func (l *lab) refreshVMs() {
	if err := l.pullVMs(); err != nil {
		log.Printf("inventory: %v", err)
	}
}

// pullVMs pulls every connected host's inventory; it returns the first failure.
func (l *lab) pullVMs() error {
	var first error
	for _, h := range l.hosts {
		if err := h.pull(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// push stands in for hostd pushing VM changes to the property collector: on ESXi, a VM that
// changes by itself (its guest shut down, a power-off over SSH) shows at once in every
// WaitForUpdatesEx. Every period it pulls hostd's inventory into the model the way a read does
// (one request, under the lab lock, so it never applies a state older than a door write's);
// only changed properties reach the collectors (vmModel.update). It returns once stop closes.
func (l *lab) push(period time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-stop:
			return
		case <-tick.C: // ticks missed while a long door operation holds the lock are dropped
		}
		l.mu.Lock()
		err := l.pullVMs()
		l.mu.Unlock()
		if (err != nil) != failing { // log changes only: a stopped hostd would flood the log
			failing = err != nil
			if failing {
				log.Printf("push: inventory: %v (retrying every %v)", err, period)
			} else {
				log.Printf("push: inventory answers again")
			}
		}
	}
}

// vm returns the modelled VM behind a moref, the host it runs on and its vmid there (a
// standalone host's moref value is the vmid, see rekey; a vCenter's is vcsim's vm-N).
func (l *lab) vm(ref types.ManagedObjectReference) (*hostLink, *simulator.VirtualMachine, string) {
	if ref.Type != "VirtualMachine" {
		return nil, nil, ""
	}
	for try := 0; try < 2; try++ {
		for _, h := range l.hosts {
			for vmid, obj := range h.vms.vms {
				if obj.Self == ref {
					return h, obj, vmid
				}
			}
		}
		if try == 0 {
			l.refreshVMs() // registered over SSH since the last read?
		}
	}
	return nil, nil, ""
}

// failed reads a hostd answer the way the collection must: the exit code alone is not trusted
// (esxi-facts: fault exit status UNCONFIRMED), fault blocks and "... failed" count too.
func failed(rc int, out string, err error) bool {
	return err != nil || rc != 0 || strings.Contains(out, "(vim.fault.") || strings.Contains(out, " failed")
}

var stateText = map[types.VirtualMachinePowerState]string{
	types.VirtualMachinePowerStatePoweredOn:  "Powered On",
	types.VirtualMachinePowerStatePoweredOff: "Powered Off",
	types.VirtualMachinePowerStateSuspended:  "Suspended",
}

// hostdFailure maps a refused hostd operation to the fault vSphere raises. wrongState says
// whether the VM's (freshly refreshed) power state forbids the operation.
func (l *lab) hostdFailure(vm *simulator.VirtualMachine, requested types.VirtualMachinePowerState,
	wrongState func(types.VirtualMachinePowerState) bool, out string, err error) (types.BaseMethodFault, string) {
	l.refreshVMs()
	state := vm.Runtime.PowerState
	switch {
	case err != nil:
		return &types.SystemError{Reason: err.Error()}, "A general system error occurred: " + err.Error()
	case strings.Contains(out, "ToolsUnavailable") || strings.Contains(out, "VMware Tools is not running"):
		return &types.ToolsUnavailable{}, "Cannot complete operation because VMware Tools is not running in this virtual machine."
	case wrongState(state):
		return &types.InvalidPowerState{RequestedState: requested, ExistingState: state},
			fmt.Sprintf("The attempted operation cannot be performed in the current state (%s).", stateText[state])
	}
	reason := strings.TrimSpace(out)
	return &types.SystemError{Reason: reason}, "A general system error occurred: " + reason
}

func vmxBool(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

// reconfig: nestedHVEnabled / vPMCEnabled are vmx keys of the lab VM, written by the hostd of
// the VM's host (which refuses while the VM runs); extraConfig stays in the model (the returned
// func, run after vcsim applied the spec). The rest of the spec only touches the model.
func (l *lab) reconfig(w http.ResponseWriter, m *simulator.Method, req *types.ReconfigVM_Task) (bool, func()) {
	h, vm, vmid := l.vm(req.This)
	if vm == nil {
		return false, nil
	}
	if r := l.refusal(h, false); r != nil {
		failTask(w, m, "reconfigVm", r.fault, r.msg)
		return true, nil
	}
	var keys [][2]string
	if b := req.Spec.NestedHVEnabled; b != nil {
		keys = append(keys, [2]string{"vhv.enable", vmxBool(*b)})
	}
	if b := req.Spec.VPMCEnabled; b != nil {
		keys = append(keys, [2]string{"vpmc.enable", vmxBool(*b)})
	}
	for _, kv := range keys {
		rc, out, err := h.hostd.call("lab", "set_vmx", vmid, kv[0], kv[1])
		if failed(rc, out, err) {
			fault, msg := l.hostdFailure(vm, types.VirtualMachinePowerStatePoweredOff,
				func(s types.VirtualMachinePowerState) bool { return s != types.VirtualMachinePowerStatePoweredOff }, out, err)
			failTask(w, m, "reconfigVm", fault, msg)
			return true, nil
		}
	}
	if b := req.Spec.VPMCEnabled; b != nil { // vcsim does not apply vPMCEnabled itself
		setVM(vm, []types.PropertyChange{{Name: "config.vPMCEnabled", Val: *b}})
	}
	return false, extraConfigAfter(vm, req.Spec.ExtraConfig) // vcsim applies the spec and runs the task
}

func (l *lab) power(w http.ResponseWriter, m *simulator.Method, task, cmd string, target types.VirtualMachinePowerState) bool {
	h, vm, vmid := l.vm(m.This)
	if vm == nil {
		return false
	}
	if r := l.refusal(h, target == types.VirtualMachinePowerStatePoweredOff); r != nil {
		failTask(w, m, task, r.fault, r.msg)
		return true
	}
	l.refreshVMs() // vcsim's own state check must see hostd's state
	rc, out, err := h.hostd.call("vim-cmd", cmd, vmid)
	if failed(rc, out, err) {
		fault, msg := l.hostdFailure(vm, target,
			func(s types.VirtualMachinePowerState) bool { return s == target }, out, err)
		failTask(w, m, task, fault, msg)
		return true
	}
	return false // vcsim moves the model to the new state, posts events, runs the task
}

// shutdown: hostd asks the guest (via Tools) and returns at once; the VM powers off later and
// the push (lab.push) or the next read shows it, as on ESXi. So vcsim's instant power-off is not used.
func (l *lab) shutdown(w http.ResponseWriter, m *simulator.Method) bool {
	h, vm, vmid := l.vm(m.This)
	if vm == nil {
		return false
	}
	if r := l.refusal(h, true); r != nil {
		writeFault(w, r.msg, r.fault)
		return true
	}
	rc, out, err := h.hostd.call("vim-cmd", "vmsvc/power.shutdown", vmid)
	if failed(rc, out, err) {
		fault, msg := l.hostdFailure(vm, types.VirtualMachinePowerStatePoweredOff,
			func(s types.VirtualMachinePowerState) bool { return s != types.VirtualMachinePowerStatePoweredOn }, out, err)
		writeFault(w, msg, fault)
		return true
	}
	writeEnvelope(w, http.StatusOK, []byte(`<ShutdownGuestResponse xmlns="urn:vim25"></ShutdownGuestResponse>`))
	return true
}

// failTask answers a *_Task call with a task that has already failed, as vCenter/ESXi do
// for faults raised while the task runs.
func failTask(w http.ResponseWriter, m *simulator.Method, name string, fault types.BaseMethodFault, msg string) {
	runTask(w, m, name, func() *refusal { return &refusal{fault, msg} })
}

// refusal is a fault and the message vSphere gives with it.
type refusal struct {
	fault types.BaseMethodFault
	msg   string
}

// runTask answers a *_Task call with a task that ran run at once: it succeeded, or failed with
// the refusal run returned.
func runTask(w http.ResponseWriter, m *simulator.Method, name string, run func() *refusal) {
	var r *refusal
	task := simulator.CreateTask(m.This, name, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if r = run(); r != nil {
			return nil, r.fault
		}
		return nil, nil
	})
	task.Run()
	if r != nil {
		// vcsim puts the Go type name in localizedMessage; clients show that text, so use vSphere's.
		simulator.Map.Update(task, []types.PropertyChange{
			{Name: "info.error", Val: types.LocalizedMethodFault{Fault: r.fault, LocalizedMessage: r.msg}},
		})
	}
	body := fmt.Sprintf(`<%sResponse xmlns="urn:vim25"><returnval type="Task">%s</returnval></%sResponse>`,
		m.Name, task.Self.Value, m.Name)
	writeEnvelope(w, http.StatusOK, []byte(body))
}

func writeEnvelope(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `%s<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"`+
		` xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"`+
		` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>`,
		xml.Header, body)
}

// faultDetail encodes the fault as vcsim does: <KindFault xmlns="urn:vim25" xsi:type="Kind">.
type faultDetail struct {
	Fault types.BaseMethodFault
}

func (d *faultDetail) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	kind := fmt.Sprintf("%T", d.Fault)[len("*types."):]
	start.Name.Local = kind + "Fault"
	start.Attr = append(start.Attr,
		xml.Attr{Name: xml.Name{Local: "xmlns"}, Value: "urn:" + vim25.Namespace},
		xml.Attr{Name: xml.Name{Local: "xsi:type"}, Value: kind})
	return e.EncodeElement(d.Fault, start)
}

type soapFault struct {
	XMLName xml.Name `xml:"soapenv:Fault"`
	Code    string   `xml:"faultcode"`
	String  string   `xml:"faultstring"`
	Detail  struct {
		Fault *faultDetail
	} `xml:"detail"`
}

func writeFault(w http.ResponseWriter, msg string, fault types.BaseMethodFault) {
	f := soapFault{Code: "ServerFaultCode", String: msg}
	f.Detail.Fault = &faultDetail{fault}
	var buf bytes.Buffer
	if err := xml.NewEncoder(&buf).Encode(&f); err != nil {
		log.Printf("encoding fault: %v", err)
	}
	writeEnvelope(w, http.StatusInternalServerError, buf.Bytes())
}
