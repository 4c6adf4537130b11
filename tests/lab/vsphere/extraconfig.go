package main

// A VM's extraConfig as vSphere keeps it through ReconfigVM_Task's spec.extraConfig: a key is
// set or replaced, a key sent with an empty value is removed, and vhv.* keys are silently
// dropped (esxi-facts "Nesting through the API": vhv.enable sent as extraConfig is dropped; only
// nestedHVEnabled works). The lab keeps it in the model only (never in the .vmx), on a running
// VM too; the hostd sync never touches it. vcsim 0.24 itself only appends (duplicates, no removal).

import (
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// plainKey: vcsim takes "ip0" and "SET.<property>" keys as property changes, never as extraConfig.
func plainKey(key string) bool {
	return key != "ip0" && !strings.HasPrefix(key, "SET.")
}

// extraConfigAfter returns what runs after vcsim applied a reconfigure spec: it gives the VM the
// extraConfig vSphere would leave. Nothing happens when vcsim refused the spec: vcsim appends
// the spec's plain keys last, only once the rest of the spec applied.
func extraConfigAfter(vm *simulator.VirtualMachine, spec []types.BaseOptionValue) func() {
	if len(spec) == 0 {
		return nil
	}
	var before []types.BaseOptionValue
	simulator.Map.WithLock(vm, func() { before = append(before, vm.Config.ExtraConfig...) })
	appended := 0
	for _, o := range spec {
		if plainKey(o.GetOptionValue().Key) {
			appended++
		}
	}
	return func() {
		simulator.Map.WithLock(vm, func() {
			if len(vm.Config.ExtraConfig) != len(before)+appended {
				return // vcsim refused the spec
			}
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "config.extraConfig", Val: mergeExtraConfig(before, spec)},
			})
		})
	}
}

// mergeExtraConfig applies spec to the VM's extraConfig as vSphere does.
func mergeExtraConfig(current, spec []types.BaseOptionValue) []types.BaseOptionValue {
	out := append([]types.BaseOptionValue{}, current...)
	for _, o := range spec {
		opt := o.GetOptionValue()
		if !plainKey(opt.Key) || strings.HasPrefix(strings.ToLower(opt.Key), "vhv.") {
			continue
		}
		at := -1
		for i := range out {
			if strings.EqualFold(out[i].GetOptionValue().Key, opt.Key) { // .vmx keys ignore case
				at = i
			}
		}
		switch {
		case opt.Value == nil || opt.Value == "":
			if at >= 0 {
				out = append(out[:at], out[at+1:]...)
			}
		case at >= 0:
			out[at] = &types.OptionValue{Key: opt.Key, Value: opt.Value}
		default:
			out = append(out, &types.OptionValue{Key: opt.Key, Value: opt.Value})
		}
	}
	return out
}
