"""Reading /proc/cpuinfo (Intel and AMD samples as Linux prints them)."""

import pytest

from ansible_collections.nestedvirt.esxi.plugins.plugin_utils.guest._cpuinfo import CpuinfoError, parse_cpuinfo

INTEL_FLAGS = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss syscall nx "
    "pdpe1gb rdtscp lm constant_tsc arch_perfmon nopl xtopology tsc_reliable nonstop_tsc cpuid pni pclmulqdq vmx "
    "ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm "
    "3dnowprefetch tpr_shadow vnmi ept vpid ept_ad arch_capabilities"
)
AMD_FLAGS = (
    "fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx lm "
    "rep_good nopl cpuid extd_apicid pni cx16 hypervisor lahf_lm"
)
INTEL_NESTED = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
flags\t\t: {INTEL_FLAGS}
bogomips\t: 4190.15

processor\t: 1
vendor_id\t: GenuineIntel
flags\t\t: fpu vme lm vmx hypervisor
""".format(INTEL_FLAGS=INTEL_FLAGS)
AMD_PLAIN = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: QEMU Virtual CPU version 2.5+
flags\t\t: {AMD_FLAGS}
""".format(AMD_FLAGS=AMD_FLAGS)


def test_intel_guest_with_nesting():
    cpu = parse_cpuinfo(INTEL_NESTED)
    assert cpu["processors"] == 2 and cpu["vendor"] == "GenuineIntel"
    assert cpu["virtualization_flag"] == "vmx" and cpu["nested_virtualization"] and cpu["kvm_module"] == "kvm_intel"
    assert cpu["long_mode"] and cpu["hypervisor"] and cpu["second_level_translation"]


def test_amd_guest_without_then_with_svm():
    cpu = parse_cpuinfo(AMD_PLAIN)
    assert not cpu["nested_virtualization"] and cpu["virtualization_flag"] is None and cpu["kvm_module"] is None
    cpu = parse_cpuinfo(AMD_PLAIN.replace(" lahf_lm", " lahf_lm svm"))
    assert cpu["virtualization_flag"] == "svm" and cpu["kvm_module"] == "kvm_amd"


@pytest.mark.parametrize("text", ["", "sh: cat: not found", "processor\t: 0\n"])
def test_not_cpuinfo(text):
    with pytest.raises(CpuinfoError):
        parse_cpuinfo(text)
