package main

// The vcsim model of an ESXi host, built from and kept in step with the lab's hostd inventory:
// the host itself (configureHost) and its VMs (vmModel). A standalone host (newModel) and each
// host of a vCenter (vcenter.go) share both.

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// aboutInfo turns the inventory's version/build into what an ESXi host reports.
func aboutInfo(inv *inventory) types.AboutInfo {
	about := esx.ServiceContent.About
	about.Version = inv.Version
	about.Build = inv.Build
	about.FullName = fmt.Sprintf("VMware ESXi %s build-%s", inv.Version, inv.Build)
	parts := strings.SplitN(inv.Version, ".", 3)
	if len(parts) == 3 {
		// apiVersion: "5.5", "6.7" up to 6.x; "7.0.3.0", "8.0.1.0" from 7.0 on.
		about.ApiVersion = parts[0] + "." + parts[1]
		if major, _ := strconv.Atoi(parts[0]); major >= 7 {
			about.ApiVersion = inv.Version + ".0"
		}
		about.LicenseProductVersion = parts[0] + ".0"
	}
	return about
}

// newModel creates the standalone ESX model with no default datastores or VMs.
func newModel(inv *inventory) (*simulator.Model, error) {
	m := simulator.ESX()
	m.Datastore = 0
	m.Machine = 0
	m.ServiceContent.About = aboutInfo(inv)
	if err := m.Create(); err != nil {
		return nil, err
	}
	host := simulator.Map.Get(esx.HostSystem.Reference()).(*simulator.HostSystem)
	configureHost(host, inv)
	if cr, ok := simulator.Map.Get(*host.Parent).(*mo.ComputeResource); ok {
		cr.Name = inv.Name
	}
	return m, nil
}

// configureHost makes vcsim's host template the lab host: its name (also its DNS name, which
// SearchIndex.FindByDnsName matches), release and nesting capability.
func configureHost(host *simulator.HostSystem, inv *inventory) {
	about := aboutInfo(inv)
	host.Name = inv.Name
	host.Summary.Config.Name = inv.Name
	host.Config.Product = about
	host.Summary.Config.Product = &about
	host.Capability = &types.HostCapability{NestedHVSupported: types.NewBool(inv.NestedHVSupported)}
	if n := host.Config.Network; n != nil {
		if d, ok := n.DnsConfig.(*types.HostDnsConfig); ok {
			dns := *d
			dns.HostName = inv.Name
			n.DnsConfig = &dns
		}
		for i := range n.NetStackInstance {
			if d, ok := n.NetStackInstance[i].DnsConfig.(*types.HostDnsConfig); ok && n.NetStackInstance[i].Key == "defaultTcpipStack" {
				dns := *d
				dns.HostName = inv.Name
				n.NetStackInstance[i].DnsConfig = &dns
			}
		}
	}
	trimHost(host, about.ApiVersion)
}

// apiBefore compares API versions ("5.5" < "6.7.3" < "7.0.3.0").
func apiBefore(api, than string) bool {
	a, b := strings.Split(api, "."), strings.Split(than, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		x, _ := strconv.Atoi(a[i])
		y, _ := strconv.Atoi(b[i])
		if x != y {
			return x < y
		}
	}
	return len(a) < len(b)
}

// trimHost drops what vcsim's (6.x/7.x) host template holds but an older host does not have.
// A host answers in the client's API version; vcsim does not, so a client that negotiated
// 5.x would meet data types it does not know and fail to read host.config at all.
// The list was found by reading every host/VM/datastore property with pyvmomi per version.
func trimHost(host *simulator.HostSystem, api string) {
	c := host.Config
	if apiBefore(api, "6.5") {
		c.DeploymentInfo, c.GraphicsConfig = nil, nil
	}
	if apiBefore(api, "6.0") {
		c.IoFilterInfo, c.LockdownMode = nil, "" // LockdownMode: a 6.0 enum type
		if c.VsanHostConfig != nil {
			c.VsanHostConfig.FaultDomainInfo = nil
		}
	}
	if apiBefore(api, "5.5") {
		c.VsanHostConfig = nil
		if c.Network != nil {
			c.Network.NetStackInstance = nil
		}
		host.Hardware.ReliableMemoryInfo = nil
		host.Runtime.NetworkRuntimeInfo, host.Runtime.VsanRuntimeInfo = nil, nil
	}
}

// vmModel owns the VirtualMachine objects of one host mirrored from its hostd, keyed by vmid.
type vmModel struct {
	c        *vim25.Client                // in-process client: bypasses the HTTP gate (license, doors)
	host     types.ManagedObjectReference // the HostSystem the VMs run on
	dc       types.ManagedObjectReference // its datacenter (the VM folders)
	dsDir    string                       // private datastore directories: vcsim writes its own .vmx files there
	api      string                       // the host's API version
	nestedOK bool
	vcenter  bool // VMs keep vcsim's morefs (vm-N) and live in their config's folders
	vms      map[string]*simulator.VirtualMachine
}

func (vm *vmModel) addDatastores(ctx context.Context, dss []invDatastore) error {
	host := object.NewHostSystem(vm.c, vm.host)
	dsSys, err := host.ConfigManager().DatastoreSystem(ctx)
	if err != nil {
		return err
	}
	for _, d := range dss {
		dir := filepath.Join(vm.dsDir, d.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		ds, err := dsSys.CreateLocalDatastore(ctx, d.Name, dir)
		if err != nil {
			return fmt.Errorf("datastore %s: %v", d.Name, err)
		}
		// Look like a VMFS volume; info.url stays the private directory vcsim needs for its files.
		obj := simulator.Map.Get(ds.Reference()).(*simulator.Datastore)
		info := obj.Info.GetDatastoreInfo()
		obj.Info = &types.VmfsDatastoreInfo{
			DatastoreInfo: *info,
			Vmfs: &types.HostVmfsVolume{
				HostFileSystemVolume: types.HostFileSystemVolume{Type: "VMFS", Name: d.Name},
				Uuid:                 d.UUID,
				Local:                types.NewBool(true),
			},
		}
		obj.Summary.Type = "VMFS"
		obj.Summary.Url = "ds:///vmfs/volumes/" + d.UUID + "/"
	}
	return nil
}

// sync makes the model's VMs match hostd's list: create, update, remove.
func (vm *vmModel) sync(ctx context.Context, list []invVM) {
	seen := make(map[string]bool)
	for _, v := range list {
		id := string(v.Vmid)
		seen[id] = true
		obj := vm.vms[id]
		if obj == nil {
			var err error
			if obj, err = vm.create(ctx, v); err != nil {
				log.Printf("vm %s (%s): not modelled: %v", id, v.Name, err)
				continue
			}
			vm.vms[id] = obj
		}
		vm.update(obj, v)
	}
	for id, obj := range vm.vms {
		if !seen[id] {
			vm.remove(ctx, obj)
			delete(vm.vms, id)
		}
	}
}

func (vm *vmModel) create(ctx context.Context, v invVM) (*simulator.VirtualMachine, error) {
	var p object.DatastorePath
	host := simulator.Map.Get(vm.host).(*simulator.HostSystem)
	if !p.FromString(v.VmxPath) || simulator.Map.FindByName(p.Datastore, host.Datastore) == nil {
		// vcsim would panic on a datastore it does not know
		return nil, fmt.Errorf("unknown datastore in %q", v.VmxPath)
	}
	// vcsim refuses to create over an existing .vmx; the directory is ours, start clean. (In a
	// vCenter two hosts' datastores may share a name; vcsim writes into this host's one.)
	dir := filepath.Join(vm.dsDir, p.Datastore, filepath.Dir(p.Path))
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}

	folder, err := vm.folder(ctx, v.Folder)
	if err != nil {
		return nil, err
	}
	hostObj := object.NewHostSystem(vm.c, host.Self)
	pool, err := hostObj.ResourcePool(ctx)
	if err != nil {
		return nil, err
	}
	spec := types.VirtualMachineConfigSpec{
		Name:    v.Name,
		GuestId: string(types.VirtualMachineGuestOsIdentifierOtherGuest64),
		Version: hwVersion(v),
		Files:   &types.VirtualMachineFileInfo{VmPathName: v.VmxPath},
	}
	task, err := folder.CreateVM(ctx, spec, pool, hostObj)
	if err != nil {
		return nil, err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return nil, err
	}
	obj := simulator.Map.Get(info.Result.(types.ManagedObjectReference)).(*simulator.VirtualMachine)
	if apiBefore(vm.api, "5.1") {
		obj.Config.LatencySensitivity = nil // a 5.1 type (see trimHost)
	}
	// hostd's UUIDs (vim-cmd get.config shows them too): stable across restarts of the simulator
	// and unique across hosts. vcsim's marker key is no real VM's extraConfig.
	changes := []types.PropertyChange{{Name: "config.extraConfig", Val: []types.BaseOptionValue{}}}
	if v.UUID != "" {
		changes = append(changes, types.PropertyChange{Name: "config.uuid", Val: v.UUID},
			types.PropertyChange{Name: "summary.config.uuid", Val: v.UUID})
	}
	if v.InstanceUUID != "" {
		changes = append(changes, types.PropertyChange{Name: "config.instanceUuid", Val: v.InstanceUUID},
			types.PropertyChange{Name: "summary.config.instanceUuid", Val: v.InstanceUUID})
	}
	setVM(obj, changes)
	if !vm.vcenter {
		rekey(obj, v)
	}
	return obj, nil
}

// folder returns the VM folder at path ("A/B") below the datacenter's, creating what is missing.
func (vm *vmModel) folder(ctx context.Context, path string) (*object.Folder, error) {
	folders, err := object.NewDatacenter(vm.c, vm.dc).Folders(ctx)
	if err != nil {
		return nil, err
	}
	f := folders.VmFolder
	if path == "" {
		return f, nil
	}
	for _, name := range strings.Split(path, "/") {
		parent := simulator.Map.Get(f.Reference()).(*simulator.Folder)
		var next *object.Folder
		for _, ref := range parent.ChildEntity {
			if child, ok := simulator.Map.Get(ref).(*simulator.Folder); ok && child.Name == name {
				next = object.NewFolder(vm.c, ref)
			}
		}
		if next == nil {
			if next, err = f.CreateFolder(ctx, name); err != nil {
				return nil, fmt.Errorf("folder %q: %v", path, err)
			}
		}
		f = next
	}
	return f, nil
}

// rekey gives the VM the moref an ESXi host uses: its vmid ("vim.VirtualMachine:1"),
// so a client may mix vmids read over SSH with API objects. vcsim picks "vm-N" itself.
func rekey(obj *simulator.VirtualMachine, v invVM) {
	old := obj.Self
	ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: string(v.Vmid)}
	if old == ref {
		return
	}
	simulator.Map.Remove(old)

	// Every list that names the VM: its folder, host, resource pool, datastores and networks.
	replace := func(owner types.ManagedObjectReference, field string) {
		o := simulator.Map.Get(owner)
		if o == nil {
			return
		}
		f := reflect.ValueOf(o).Elem().FieldByName(field) // finds fields promoted from the mo type
		if !f.IsValid() {
			return
		}
		refs := f.Addr().Interface().(*[]types.ManagedObjectReference)
		for i := range *refs {
			if (*refs)[i] == old {
				(*refs)[i] = ref
			}
		}
	}
	replace(*obj.Parent, "ChildEntity")
	replace(*obj.Runtime.Host, "Vm")
	replace(*obj.ResourcePool, "Vm")
	for _, r := range append(append([]types.ManagedObjectReference{}, obj.Datastore...), obj.Network...) {
		replace(r, "Vm")
	}
	obj.Self = ref
	simulator.Map.Put(obj) // after the owners: open container views add it if they find it
}

func (vm *vmModel) remove(ctx context.Context, obj *simulator.VirtualMachine) {
	setVM(obj, []types.PropertyChange{
		{Name: "runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff},
		{Name: "summary.runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff},
	})
	task, err := object.NewVirtualMachine(vm.c, obj.Self).Destroy(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		log.Printf("vm %s: remove: %v", obj.Self.Value, err)
	}
}

func hwVersion(v invVM) string {
	if v.HardwareVersion == 0 {
		return esx.HardwareVersion
	}
	return fmt.Sprintf("vmx-%02d", v.HardwareVersion)
}

// update copies hostd's view of one VM into the model; only changed properties are
// written, so WaitForUpdates clients see no spurious changes.
func (vm *vmModel) update(obj *simulator.VirtualMachine, v invVM) {
	simulator.Map.WithLock(obj, func() { vm.updateLocked(obj, v) })
}

func (vm *vmModel) updateLocked(obj *simulator.VirtualMachine, v invVM) {
	power := types.VirtualMachinePowerState(v.Power)
	hw := hwVersion(v)
	nested := vm.nestedOK && v.HardwareVersion >= 9 // per-VM nesting needs virtual hardware 9+
	var changes []types.PropertyChange
	set := func(name string, cur, want interface{}) {
		if !reflect.DeepEqual(cur, want) {
			changes = append(changes, types.PropertyChange{Name: name, Val: want})
		}
	}
	c, s := obj.Config, &obj.Summary
	set("name", obj.Name, v.Name)
	set("config.name", c.Name, v.Name)
	set("summary.config.name", s.Config.Name, v.Name)
	set("config.files.vmPathName", c.Files.VmPathName, v.VmxPath)
	set("summary.config.vmPathName", s.Config.VmPathName, v.VmxPath)
	set("config.version", c.Version, hw)
	set("config.annotation", c.Annotation, v.Annotation)
	set("summary.config.annotation", s.Config.Annotation, v.Annotation)
	if v.NumCPUs > 0 {
		set("config.hardware.numCPU", c.Hardware.NumCPU, v.NumCPUs)
		set("summary.config.numCpu", s.Config.NumCpu, v.NumCPUs)
	}
	if v.MemSize > 0 {
		set("config.hardware.memoryMB", c.Hardware.MemoryMB, v.MemSize)
		set("summary.config.memorySizeMB", s.Config.MemorySizeMB, v.MemSize)
	}
	setBool := func(name string, cur *bool, want bool) { // unset counts as changed: ESXi reports false
		if cur == nil || *cur != want {
			changes = append(changes, types.PropertyChange{Name: name, Val: want})
		}
	}
	setBool("config.nestedHVEnabled", c.NestedHVEnabled, v.NestedHV)
	setBool("capability.nestedHVSupported", obj.Capability.NestedHVSupported, nested)
	// What VMware Tools report (hostd's get.guest): clients wait on these after a power-on.
	tools, toolsStatus := "guestToolsNotRunning", types.VirtualMachineToolsStatusToolsNotRunning
	if !v.ToolsInstalled {
		toolsStatus = types.VirtualMachineToolsStatusToolsNotInstalled
	}
	if v.ToolsRunning {
		tools, toolsStatus = "guestToolsRunning", types.VirtualMachineToolsStatusToolsOk
	}
	ip, hostName := "", ""
	if v.IPAddress != nil {
		ip = *v.IPAddress
	}
	if v.GuestHostName != nil {
		hostName = *v.GuestHostName
	}
	if obj.Guest == nil {
		obj.Guest = &types.GuestInfo{}
	}
	set("guest.toolsRunningStatus", obj.Guest.ToolsRunningStatus, tools)
	set("guest.toolsStatus", obj.Guest.ToolsStatus, toolsStatus)
	set("guest.ipAddress", obj.Guest.IpAddress, ip)
	set("guest.hostName", obj.Guest.HostName, hostName)
	set("summary.guest.toolsRunningStatus", summaryGuest(s).ToolsRunningStatus, tools)
	set("summary.guest.ipAddress", summaryGuest(s).IpAddress, ip)
	set("runtime.powerState", obj.Runtime.PowerState, power)
	set("summary.runtime.powerState", s.Runtime.PowerState, power)
	if len(changes) > 0 {
		simulator.Map.Update(obj, changes)
	}
}

func summaryGuest(s *types.VirtualMachineSummary) *types.VirtualMachineGuestSummary {
	if s.Guest == nil {
		s.Guest = &types.VirtualMachineGuestSummary{}
	}
	return s.Guest
}

// setVM applies property changes under the VM's lock and notifies property collectors.
func setVM(obj *simulator.VirtualMachine, changes []types.PropertyChange) {
	simulator.Map.WithLock(obj, func() { simulator.Map.Update(obj, changes) })
}
