package main

// Client side of the lab's hostd request protocol (see tests/lab/ARCHITECTURE.md):
// request  = "<argc>\n" + each argument followed by NUL; argument 0 is the program.
// response = "<exit code>\n" + the program's stdout, then the server closes.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"log"
	"net"
	"strconv"
	"strings"
	"time"
)

type hostd struct {
	addr string
	name string // a vCenter's host: named in the log (a standalone host's log is its own)
}

// hostdTimeout bounds one request; power.on in the lab starts a QEMU guest, so be generous.
const hostdTimeout = 120 * time.Second

// call sends one request and returns hostd's exit code and stdout.
func (h *hostd) call(argv ...string) (int, string, error) {
	conn, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
	if err != nil {
		return -1, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(hostdTimeout))

	var req strings.Builder
	fmt.Fprintf(&req, "%d\n", len(argv))
	for _, a := range argv {
		req.WriteString(a)
		req.WriteByte(0)
	}
	if _, err = conn.Write([]byte(req.String())); err != nil {
		return -1, "", err
	}

	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return -1, "", fmt.Errorf("hostd %v: no status line: %v", argv, err)
	}
	rc, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return -1, "", fmt.Errorf("hostd %v: bad status line %q", argv, line)
	}
	out, err := ioutil.ReadAll(r)
	if rc != 0 || err != nil || argv[0] != "lab" || (argv[1] != "inventory" && argv[1] != "ssh_state") {
		var of string
		if h.name != "" {
			of = " on " + h.name
		}
		log.Printf("hostd %q -> rc=%d %v%s", argv, rc, err, of) // changes and failures; reads would flood the log
	}
	return rc, string(out), err
}

// flexString accepts a JSON string or number (a vmid may be sent either way).
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	var n json.Number // a number, or a string holding a number
	if err := json.Unmarshal(b, &n); err == nil {
		*s = flexString(n)
		return nil
	}
	var str string
	err := json.Unmarshal(b, &str)
	*s = flexString(str)
	return err
}

type invDatastore struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
}

type invVM struct {
	Vmid            flexString `json:"vmid"`
	Name            string     `json:"name"`
	VmxPath         string     `json:"vmx_datastore_path"`
	Power           string     `json:"power"`
	HardwareVersion int        `json:"hardware_version"`
	NumCPUs         int32      `json:"numvcpus"`
	MemSize         int32      `json:"memsize"`
	NestedHV        bool       `json:"nested_hv_enabled"`
	Annotation      string     `json:"annotation"`
	UUID            string     `json:"uuid"`          // config.uuid, as vim-cmd get.config shows it
	InstanceUUID    string     `json:"instance_uuid"` // config.instanceUuid
	Folder          string     `json:"folder"`        // a vCenter's VM folder below the datacenter's ("A/B")
	ToolsInstalled  bool       `json:"tools_installed"`
	ToolsRunning    bool       `json:"tools_running"`
	IPAddress       *string    `json:"ip_address"` // what VMware Tools report (get.guest)
	GuestHostName   *string    `json:"guest_hostname"`
}

type inventory struct {
	Name              string         `json:"name"`
	Version           string         `json:"version"`
	Build             string         `json:"build"`
	NestedHVSupported bool           `json:"nested_hv_supported"`
	Datastores        []invDatastore `json:"datastores"`
	VMs               []invVM        `json:"vms"`
}

// jsonCall runs a private `lab` operation whose stdout is JSON.
func (h *hostd) jsonCall(dst interface{}, argv ...string) error {
	rc, out, err := h.call(argv...)
	if err != nil {
		return err
	}
	if rc != 0 {
		return fmt.Errorf("hostd %v: rc=%d: %s", argv, rc, strings.TrimSpace(out))
	}
	return json.Unmarshal([]byte(out), dst)
}

func (h *hostd) inventory() (*inventory, error) {
	inv := new(inventory)
	return inv, h.jsonCall(inv, "lab", "inventory")
}

type sshState struct {
	Running bool   `json:"running"`
	Policy  string `json:"policy"`
}

func (h *hostd) sshState() (*sshState, error) {
	st := new(sshState)
	return st, h.jsonCall(st, "lab", "ssh_state")
}
