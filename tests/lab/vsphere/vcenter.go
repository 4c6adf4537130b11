package main

// The vCenter mode (-vcenter): govmomi's vCenter (VPX) model with one datacenter and one cluster
// of lab hosts, each a hostLink like a standalone host's (its own hostd, VMs and services), and
// the host states a vCenter manages (maintenance mode, disconnection) with the VM operations
// they refuse. VMs keep vcsim's vCenter-style morefs (vm-N); the gate maps each to its host and
// vmid (lab.vm), so every write reaches the hostd of the VM's own host.

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"path/filepath"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	vcenterVersion = "8.0.3"
	vcenterBuild   = "24022515" // vCenter Server 8.0 Update 3 (GA)
)

// Messages vCenter gives with the host state faults.
const (
	hostStateMsg        = "The operation is not allowed in the current state of the host."
	hostConnectionMsg   = "The operation is not allowed in the current connection state of the host."
	hostNotConnectedMsg = "Unable to communicate with the remote host, since it is disconnected."
)

func vcenterAbout() types.AboutInfo {
	about := vpx.ServiceContent.About
	about.Version, about.Build = vcenterVersion, vcenterBuild
	about.FullName = fmt.Sprintf("VMware vCenter Server %s build-%s", vcenterVersion, vcenterBuild)
	about.ApiVersion = vcenterVersion + ".0"
	about.LicenseProductVersion = "8.0"
	return about
}

// newVCenterModel creates an empty vCenter model (no datacenter, host, datastore or VM of vcsim's).
func newVCenterModel() (*simulator.Model, error) {
	m := simulator.VPX()
	m.Datacenter, m.Portgroup, m.Host, m.Cluster, m.ClusterHost, m.Datastore, m.Machine = 0, 0, 0, 0, 0, 0, 0
	m.ServiceContent.About = vcenterAbout()
	return m, m.Create()
}

// vcenterHosts creates the datacenter, its cluster and, for each hostd, a cluster host named by
// the lab host's name, with that host's release, datastores, VMs and services.
func vcenterHosts(ctx context.Context, c *vim25.Client, hostds []*hostd, dcName, clusterName, dsDir string) ([]*hostLink, error) {
	dc, err := object.NewRootFolder(c).CreateDatacenter(ctx, dcName)
	if err != nil {
		return nil, err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return nil, err
	}
	cluster, err := folders.HostFolder.CreateCluster(ctx, clusterName, types.ClusterConfigSpecEx{})
	if err != nil {
		return nil, err
	}
	var links []*hostLink
	for _, h := range hostds {
		inv, err := waitInventory(h)
		if err != nil {
			return nil, err
		}
		task, err := cluster.AddHost(ctx, types.HostConnectSpec{HostName: inv.Name}, true, nil, nil)
		if err != nil {
			return nil, err
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("host %s: %v", inv.Name, err)
		}
		host := simulator.Map.Get(info.Result.(types.ManagedObjectReference)).(*simulator.HostSystem)
		configureHost(host, inv)
		// vcsim's host template gives every host the same HostServiceSystem moref; give each its own.
		ref := types.ManagedObjectReference{Type: "HostServiceSystem", Value: "serviceSystem-" + host.Self.Value}
		host.ConfigManager.ServiceSystem = &ref
		link, err := newHostLink(ctx, c, h, inv, host, dc.Reference(), filepath.Join(dsDir, inv.Name), true)
		if err != nil {
			return nil, fmt.Errorf("host %s: %v", inv.Name, err)
		}
		links = append(links, link)
	}
	return links, nil
}

func (l *lab) hostByRef(ref types.ManagedObjectReference) *hostLink {
	for _, h := range l.hosts {
		if h.ref == ref {
			return h
		}
	}
	return nil
}

// refusal says what a vCenter raises for a VM operation its host's state forbids (nil: go on).
// A disconnected host: InvalidHostConnectionState for every operation (vCenter cannot reach the
// host; hostd never sees the call). Maintenance mode: power-on and reconfigure fail with
// InvalidHostState (a subtype of the InvalidState the API reference lists for them); power-off
// and guest shutdown still work (vSphere API reference, EnteringMaintenanceModeEvent: "All
// virtual machine operations are blocked, except MigrateVM, PowerOffVM, SuspendVM,
// ShutdownGuest, StandbyGuest"). A standalone host's gate refuses nothing here.
func (l *lab) refusal(h *hostLink, allowedInMaintenance bool) *refusal {
	if !l.vcenter {
		return nil
	}
	if h.disconnected {
		return &refusal{&types.InvalidHostConnectionState{InvalidHostState: types.InvalidHostState{Host: &h.ref}}, hostConnectionMsg}
	}
	host := simulator.Map.Get(h.ref).(*simulator.HostSystem)
	if !allowedInMaintenance && host.Runtime.InMaintenanceMode {
		return &refusal{&types.InvalidHostState{Host: &h.ref}, hostStateMsg}
	}
	return nil
}

// vcenterCall returns what the gate does for a vCenter's host calls (nil: vcsim answers alone):
// the host state tasks, and HostNotConnected for a disconnected host's service system.
func (l *lab) vcenterCall(w http.ResponseWriter, m *simulator.Method) func() bool {
	switch m.Body.(type) {
	case *types.EnterMaintenanceMode_Task, *types.ExitMaintenanceMode_Task, *types.DisconnectHost_Task,
		*types.ReconnectHost_Task:
		if h := l.hostByRef(m.This); h != nil {
			return func() bool { l.hostState(w, m, h); return true }
		}
	case *types.StartService, *types.StopService, *types.RestartService, *types.UpdateServicePolicy,
		*types.RefreshServices:
		for _, h := range l.hosts {
			if h.services.Self == m.This {
				h := h
				return func() bool {
					if h.disconnected {
						writeFault(w, hostNotConnectedMsg, &types.HostNotConnected{})
					}
					return h.disconnected
				}
			}
		}
	}
	return nil
}

// hostState runs a host state task. vcsim 0.24 has no DisconnectHost/ReconnectHost, and its
// maintenance mode tasks change the host without telling property collectors.
// Simplified: entering maintenance mode never waits for the host's running VMs (as it would
// without DRS moving them away); it succeeds at once.
func (l *lab) hostState(w http.ResponseWriter, m *simulator.Method, h *hostLink) {
	host := simulator.Map.Get(h.ref).(*simulator.HostSystem)
	notConnected := &refusal{&types.InvalidHostConnectionState{InvalidHostState: types.InvalidHostState{Host: &h.ref}}, hostConnectionMsg}
	maintenance := func(on bool) func() *refusal {
		return func() *refusal {
			if h.disconnected {
				return notConnected
			}
			setHost(host, "inMaintenanceMode", on)
			return nil
		}
	}
	switch m.Body.(type) {
	case *types.EnterMaintenanceMode_Task:
		runTask(w, m, "enterMaintenanceMode", maintenance(true))
	case *types.ExitMaintenanceMode_Task:
		runTask(w, m, "exitMaintenanceMode", maintenance(false))
	case *types.DisconnectHost_Task:
		runTask(w, m, "disconnect", func() *refusal { l.connect(h, host, false); return nil })
	case *types.ReconnectHost_Task:
		runTask(w, m, "reconnect", func() *refusal { l.connect(h, host, true); return nil })
	}
}

// connect changes a host's connection state and its VMs'; a disconnected host's hostd is not
// asked (its VMs keep their last state), a reconnected one's is at once.
func (l *lab) connect(h *hostLink, host *simulator.HostSystem, connected bool) {
	hostState, vmState := types.HostSystemConnectionStateDisconnected, types.VirtualMachineConnectionStateDisconnected
	if connected {
		hostState, vmState = types.HostSystemConnectionStateConnected, types.VirtualMachineConnectionStateConnected
	}
	h.disconnected = !connected
	setHost(host, "connectionState", hostState)
	for _, vm := range h.vms.vms {
		setVM(vm, []types.PropertyChange{
			{Name: "runtime.connectionState", Val: vmState},
			{Name: "summary.runtime.connectionState", Val: vmState},
		})
	}
	if connected {
		if err := h.pull(); err != nil {
			log.Printf("reconnect: inventory: %v", err)
		}
	}
}

// setHost changes one runtime property of a host (summary.runtime is the same data) and tells
// property collectors.
func setHost(host *simulator.HostSystem, field string, val interface{}) {
	simulator.Map.WithLock(host, func() {
		simulator.Map.Update(host, []types.PropertyChange{
			{Name: "runtime." + field, Val: val},
			{Name: "summary.runtime." + field, Val: val},
		})
	})
}
