package main

// HostServiceSystem, which vcsim 0.24 lacks (configManager.serviceSystem points at nothing).
// TSM-SSH is the lab's real sshd, owned by hostd: its state is always read from hostd and
// every change goes through hostd, so SSH-side changes (vim-cmd hostsvc/...) are seen here too.
// The other services only live in this model.

import (
	"log"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const sshKey = "TSM-SSH"

type serviceSystem struct {
	mo.HostServiceSystem // first field: vcsim's property collector reads it
	hostd                *hostd
}

func newServiceSystem(ref types.ManagedObjectReference, h *hostd) *serviceSystem {
	s := &serviceSystem{hostd: h}
	s.Self = ref
	// What a fresh ESXi host shows (5.5 - 8.0 share these keys and labels).
	s.ServiceInfo.Service = []types.HostService{
		{Key: "DCUI", Label: "Direct Console UI", Required: false, Running: true, Policy: "on"},
		{Key: "TSM", Label: "ESXi Shell", Running: false, Policy: "off"},
		{Key: sshKey, Label: "SSH", Running: false, Policy: "off", Ruleset: []string{"sshServer"}},
		{Key: "ntpd", Label: "NTP Daemon", Running: false, Policy: "off", Ruleset: []string{"ntpClient"}},
	}
	return s
}

func (s *serviceSystem) find(key string) *types.HostService {
	for i := range s.ServiceInfo.Service {
		if s.ServiceInfo.Service[i].Key == key {
			return &s.ServiceInfo.Service[i]
		}
	}
	return nil
}

// refresh reads TSM-SSH's state from hostd; callers hold the object's lock.
func (s *serviceSystem) refresh() {
	st, err := s.hostd.sshState()
	if err != nil {
		log.Printf("ssh_state: %v", err)
		return
	}
	svc := s.find(sshKey)
	if svc.Running == st.Running && (st.Policy == "" || svc.Policy == st.Policy) {
		return
	}
	svc.Running = st.Running
	if st.Policy != "" {
		svc.Policy = st.Policy
	}
	simulator.Map.Update(s, []types.PropertyChange{{Name: "serviceInfo", Val: s.ServiceInfo}})
}

// hostdFault turns a failed hostd request into the fault ESXi's API raises for services.
func hostdFault(rc int, out string, err error) *soap.Fault {
	if err == nil && rc == 0 {
		return nil
	}
	msg := strings.TrimSpace(out)
	if err != nil {
		msg = err.Error()
	}
	return simulator.Fault(msg, &types.HostConfigFault{})
}

func (s *serviceSystem) change(key string, sshArgv []string, apply func(*types.HostService)) *soap.Fault {
	svc := s.find(key)
	if svc == nil {
		return simulator.Fault("The object or item referred to could not be found.", &types.NotFound{})
	}
	if key == sshKey {
		if f := hostdFault(s.hostd.call(sshArgv...)); f != nil {
			return f
		}
		s.refresh()
		return nil
	}
	apply(svc)
	simulator.Map.Update(s, []types.PropertyChange{{Name: "serviceInfo", Val: s.ServiceInfo}})
	return nil
}

func (s *serviceSystem) StartService(req *types.StartService) soap.HasFault {
	return &methods.StartServiceBody{
		Fault_: s.change(req.Id, []string{"vim-cmd", "hostsvc/start_ssh"}, func(h *types.HostService) { h.Running = true }),
		Res:    &types.StartServiceResponse{},
	}
}

func (s *serviceSystem) StopService(req *types.StopService) soap.HasFault {
	return &methods.StopServiceBody{
		Fault_: s.change(req.Id, []string{"vim-cmd", "hostsvc/stop_ssh"}, func(h *types.HostService) { h.Running = false }),
		Res:    &types.StopServiceResponse{},
	}
}

func (s *serviceSystem) RestartService(req *types.RestartService) soap.HasFault {
	var f *soap.Fault
	if req.Id == sshKey {
		if f = s.change(sshKey, []string{"vim-cmd", "hostsvc/stop_ssh"}, nil); f == nil {
			f = s.change(sshKey, []string{"vim-cmd", "hostsvc/start_ssh"}, nil)
		}
	} else {
		f = s.change(req.Id, nil, func(h *types.HostService) { h.Running = true })
	}
	return &methods.RestartServiceBody{Fault_: f, Res: &types.RestartServiceResponse{}}
}

func (s *serviceSystem) UpdateServicePolicy(req *types.UpdateServicePolicy) soap.HasFault {
	body := &methods.UpdateServicePolicyBody{Res: &types.UpdateServicePolicyResponse{}}
	switch req.Policy {
	case "on", "off", "automatic":
		body.Fault_ = s.change(req.Id, []string{"lab", "ssh_policy", req.Policy}, func(h *types.HostService) { h.Policy = req.Policy })
	default:
		body.Fault_ = simulator.Fault("A specified parameter was not correct: policy", &types.InvalidArgument{InvalidProperty: "policy"})
	}
	return body
}

func (s *serviceSystem) RefreshServices(req *types.RefreshServices) soap.HasFault {
	s.refresh()
	return &methods.RefreshServicesBody{Res: &types.RefreshServicesResponse{}}
}
