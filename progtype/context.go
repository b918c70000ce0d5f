package progtype

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/anybpf/anybpf/isa"
)

// ErrContextAccess is wrapped by errors about a program's use of its context.
var ErrContextAccess = errors.New("invalid context access")

// ErrNotSupported is wrapped, together with ErrContextAccess, by errors about context
// fields that Linux offers but anybpf cannot give (such as a pointer to the kernel's
// socket).
var ErrNotSupported = errors.New("not supported")

// Field is one field of a program type's context as programs see it (the Linux layout),
// and where the runtime keeps it.
type Field struct {
	Name string
	// Offset and Size in the Linux struct (xdp_md, __sk_buff, ...).
	Offset, Size int
	// RealOffset and RealSize in the runtime's context struct; pointer fields are 32-bit
	// in Linux's layout and 64-bit in the real one.
	RealOffset, RealSize int
	Writable             bool
	// Pointer kinds: what a load of the field gives.
	Kind FieldKind
	// Narrow allows loads of any aligned part of the field (its real layout must equal
	// the Linux one), as the kernel allows for most scalar fields.
	Narrow bool
	// MinWrite, when not 0, is the narrowest store the field takes: Linux lets programs
	// read a byte of bpf_sock_addr.user_ip4 but store only all four.
	MinWrite int
}

// FieldKind says what a context field holds.
type FieldKind int

// Field kinds.
const (
	Scalar FieldKind = iota
	PacketStart
	PacketEnd
	PacketMeta
	// SocketPointer is a pointer to the kernel's struct bpf_sock (bpf_sock_ops.sk,
	// bpf_sock_addr.sk). There is no kernel socket behind a context here, so loads of
	// it are refused with ErrNotSupported.
	SocketPointer
)

// Context describes a program type's context.
type Context struct {
	// Name is the C struct name.
	Name string
	// Size is the size of the Linux struct; RealSize of the runtime's struct.
	Size, RealSize int
	Fields         []Field
}

// Field returns the field an access of size bytes at off reads or writes: the field
// itself, or for narrow fields an aligned part of it (returned as a field of that part).
func (c *Context) Field(off, size int) (*Field, bool) {
	for i := range c.Fields {
		f := &c.Fields[i]
		if off == f.Offset && size == f.Size {
			return f, true
		}
		if f.Narrow && off >= f.Offset && off+size <= f.Offset+f.Size && off%size == 0 {
			part := *f
			part.Offset, part.Size = off, size
			part.RealOffset, part.RealSize = f.RealOffset+(off-f.Offset), size
			return &part, true
		}
	}
	return nil, false
}

// XDPContext is struct xdp_md. The runtime's struct is XDPMD.
var XDPContext = &Context{
	Name: "xdp_md", Size: 24, RealSize: 40,
	Fields: []Field{
		{Name: "data", Offset: 0, Size: 4, RealOffset: 0, RealSize: 8, Kind: PacketStart},
		{Name: "data_end", Offset: 4, Size: 4, RealOffset: 8, RealSize: 8, Kind: PacketEnd},
		{Name: "data_meta", Offset: 8, Size: 4, RealOffset: 16, RealSize: 8, Kind: PacketMeta},
		{Name: "ingress_ifindex", Offset: 12, Size: 4, RealOffset: 24, RealSize: 4},
		{Name: "rx_queue_index", Offset: 16, Size: 4, RealOffset: 28, RealSize: 4},
		{Name: "egress_ifindex", Offset: 20, Size: 4, RealOffset: 32, RealSize: 4},
	},
}

// XDPMD is the runtime's XDP context, the layout XDPContext's real offsets describe.
type XDPMD struct {
	Data, DataEnd, DataMeta uint64
	IngressIfindex          uint32
	RxQueueIndex            uint32
	EgressIfindex           uint32
	_                       uint32
}

// SKBuffContext is struct __sk_buff for socket filters and tc programs. The runtime's
// struct (SKBuff) keeps Linux's layout for every scalar field and appends the three packet
// pointers as 64-bit fields.
var SKBuffContext = func() *Context {
	c := &Context{Name: "__sk_buff", Size: 192, RealSize: 216}
	scalar := func(name string, off, size int, writable bool) {
		c.Fields = append(c.Fields, Field{Name: name, Offset: off, Size: size, RealOffset: off, RealSize: size, Writable: writable, Narrow: true})
	}
	for _, f := range []struct {
		name      string
		off, size int
		writable  bool
	}{
		{"len", 0, 4, false}, {"pkt_type", 4, 4, false}, {"mark", 8, 4, true},
		{"queue_mapping", 12, 4, true}, {"protocol", 16, 4, false}, {"vlan_present", 20, 4, false},
		{"vlan_tci", 24, 4, false}, {"vlan_proto", 28, 4, false}, {"priority", 32, 4, true},
		{"ingress_ifindex", 36, 4, false}, {"ifindex", 40, 4, false}, {"tc_index", 44, 4, true},
		{"cb", 48, 20, true}, {"hash", 68, 4, false}, {"tc_classid", 72, 4, true},
		{"napi_id", 84, 4, false}, {"family", 88, 4, false}, {"remote_ip4", 92, 4, false},
		{"local_ip4", 96, 4, false}, {"remote_ip6", 100, 16, false}, {"local_ip6", 116, 16, false},
		{"remote_port", 132, 4, false}, {"local_port", 136, 4, false}, {"tstamp", 152, 8, true},
		{"wire_len", 160, 4, false}, {"gso_segs", 164, 4, false}, {"gso_size", 176, 4, false},
		{"hwtstamp", 184, 8, false},
	} {
		scalar(f.name, f.off, f.size, f.writable)
	}
	c.Fields = append(c.Fields,
		Field{Name: "data", Offset: 76, Size: 4, RealOffset: 192, RealSize: 8, Kind: PacketStart},
		Field{Name: "data_end", Offset: 80, Size: 4, RealOffset: 200, RealSize: 8, Kind: PacketEnd},
		Field{Name: "data_meta", Offset: 140, Size: 4, RealOffset: 208, RealSize: 8, Kind: PacketMeta},
	)
	return c
}()

// SKBuff is the runtime's __sk_buff: Linux's 192 bytes (scalar fields in place), then the
// packet pointers.
type SKBuff struct {
	Linux                   [192]byte
	Data, DataEnd, DataMeta uint64
}

// SockAddrContext is struct bpf_sock_addr, for cgroup/connect, bind, sendmsg, recvmsg,
// getpeername and getsockname programs, with every field any attach type may use;
// ContextFor gives the fields of one attach type, as Linux's sock_addr_is_valid_access
// does. The runtime keeps Linux's layout (72 bytes); sk, a pointer to the kernel's
// socket, cannot be loaded.
var SockAddrContext = &Context{
	Name: "bpf_sock_addr", Size: 72, RealSize: 72,
	Fields: []Field{
		{Name: "user_family", Offset: 0, Size: 4, RealOffset: 0, RealSize: 4},
		{Name: "user_ip4", Offset: 4, Size: 4, RealOffset: 4, RealSize: 4, Writable: true, Narrow: true, MinWrite: 4},
		{Name: "user_ip6", Offset: 8, Size: 16, RealOffset: 8, RealSize: 16, Writable: true, Narrow: true, MinWrite: 4},
		{Name: "user_port", Offset: 24, Size: 4, RealOffset: 24, RealSize: 4, Writable: true, Narrow: true, MinWrite: 4},
		{Name: "family", Offset: 28, Size: 4, RealOffset: 28, RealSize: 4},
		{Name: "type", Offset: 32, Size: 4, RealOffset: 32, RealSize: 4},
		{Name: "protocol", Offset: 36, Size: 4, RealOffset: 36, RealSize: 4},
		{Name: "msg_src_ip4", Offset: 40, Size: 4, RealOffset: 40, RealSize: 4, Writable: true, Narrow: true, MinWrite: 4},
		{Name: "msg_src_ip6", Offset: 44, Size: 16, RealOffset: 44, RealSize: 16, Writable: true, Narrow: true, MinWrite: 4},
		{Name: "sk", Offset: 64, Size: 8, RealOffset: 64, RealSize: 8, Kind: SocketPointer},
	},
}

// BindContext is struct bind_md (include/anybpf/bind.h, ebpf-for-windows's layout): the
// runtime's struct is the same, with 64-bit pointers.
var BindContext = &Context{
	Name: "bind_md", Size: 56, RealSize: 56,
	Fields: []Field{
		{Name: "app_id_start", Offset: 0, Size: 8, RealOffset: 0, RealSize: 8, Kind: PacketStart},
		{Name: "app_id_end", Offset: 8, Size: 8, RealOffset: 8, RealSize: 8, Kind: PacketEnd},
		{Name: "process_id", Offset: 16, Size: 8, RealOffset: 16, RealSize: 8, Narrow: true},
		{Name: "socket_address", Offset: 24, Size: 16, RealOffset: 24, RealSize: 16, Writable: true, Narrow: true},
		{Name: "socket_address_length", Offset: 40, Size: 1, RealOffset: 40, RealSize: 1},
		{Name: "operation", Offset: 44, Size: 4, RealOffset: 44, RealSize: 4, Narrow: true},
		{Name: "protocol", Offset: 48, Size: 1, RealOffset: 48, RealSize: 1},
	},
}

// ProcessContext is struct process_md (include/anybpf/process.h).
var ProcessContext = &Context{
	Name: "process_md", Size: 88, RealSize: 88,
	Fields: []Field{
		{Name: "command_start", Offset: 0, Size: 8, RealOffset: 0, RealSize: 8, Kind: PacketStart},
		{Name: "command_end", Offset: 8, Size: 8, RealOffset: 8, RealSize: 8, Kind: PacketEnd},
		{Name: "process_id", Offset: 16, Size: 8, RealOffset: 16, RealSize: 8, Narrow: true},
		{Name: "parent_process_id", Offset: 24, Size: 8, RealOffset: 24, RealSize: 8, Narrow: true},
		{Name: "creating_process_id", Offset: 32, Size: 8, RealOffset: 32, RealSize: 8, Narrow: true},
		{Name: "creating_thread_id", Offset: 40, Size: 8, RealOffset: 40, RealSize: 8, Narrow: true},
		{Name: "creation_time", Offset: 48, Size: 8, RealOffset: 48, RealSize: 8, Narrow: true},
		{Name: "exit_time", Offset: 56, Size: 8, RealOffset: 56, RealSize: 8, Narrow: true},
		{Name: "process_exit_code", Offset: 64, Size: 4, RealOffset: 64, RealSize: 4, Narrow: true},
		{Name: "operation", Offset: 68, Size: 1, RealOffset: 68, RealSize: 1},
		{Name: "image_path_start", Offset: 72, Size: 8, RealOffset: 72, RealSize: 8, Kind: PacketStart},
		{Name: "image_path_end", Offset: 80, Size: 8, RealOffset: 80, RealSize: 8, Kind: PacketEnd},
	},
}

// ContextOf returns the context descriptor of a program type, or nil when anybpf does not
// describe it yet. For types whose context depends on the attach type (CGROUP_SOCK_ADDR,
// CGROUP_SOCK) it gives one with every field some attach type may use; loaders that know
// the attach type call ContextFor.
func ContextOf(t Type) *Context {
	switch t {
	case SockOps:
		return SockOpsContext
	case CgroupSock:
		return SockContext
	case XDP:
		return XDPContext
	case SocketFilter, SchedCls, SchedAct, CgroupSKB:
		return SKBuffContext
	case CgroupSockAddr:
		return SockAddrContext
	case Bind:
		return BindContext
	case Process:
		return ProcessContext
	}
	return nil
}

// ctxState is what the rewriter knows of a register or stack slot: whether it holds the
// context pointer plus a constant offset.
type ctxState struct {
	isCtx bool
	off   int
}

type frameState struct {
	regs  [11]ctxState
	stack map[int16]ctxState // 8-byte spills by r10 offset
}

func (s *frameState) clone() *frameState {
	c := &frameState{regs: s.regs, stack: make(map[int16]ctxState, len(s.stack))}
	for k, v := range s.stack {
		c.stack[k] = v
	}
	return c
}

// merge returns whether s changed.
func (s *frameState) merge(o *frameState) bool {
	changed := false
	for i := range s.regs {
		if s.regs[i] != o.regs[i] && s.regs[i].isCtx {
			s.regs[i] = ctxState{}
			changed = true
		}
	}
	for k, v := range s.stack {
		if ov, ok := o.stack[k]; !ok || ov != v {
			delete(s.stack, k)
			changed = true
		}
	}
	return changed
}

// RewriteContext finds every load and store through the context pointer (r1 at entry,
// followed through moves, constant offsets and 8-byte stack spills) and rewrites it to the
// runtime's layout. A context access it cannot resolve to a field, or a write to a
// read-only field, is an error naming the instruction. The verifier will supply the same
// facts later; this tracker is the loader's own until then.
func RewriteContext(insns []isa.Instruction, c *Context) ([]isa.Instruction, error) {
	out := append([]isa.Instruction(nil), insns...)
	offs, bySlot := isa.SlotIndex(insns)
	total := len(bySlot) - 1
	states := make([]*frameState, total)
	entry := &frameState{stack: map[int16]ctxState{}}
	entry.regs[1] = ctxState{isCtx: true}
	states[0] = entry
	work := []int{0}
	// everCtx records, per slot, the registers that held the context on some incoming
	// path; an access through one of them must find it there on every path.
	everCtx := make([]uint16, total)
	everCtx[0] = 1 << 1
	push := func(slot int, s *frameState) {
		if slot < 0 || slot >= total || bySlot[slot] < 0 {
			return
		}
		for r := range s.regs {
			if s.regs[r].isCtx {
				everCtx[slot] |= 1 << r
			}
		}
		if states[slot] == nil {
			states[slot] = s.clone()
			work = append(work, slot)
		} else if states[slot].merge(s) {
			work = append(work, slot)
		}
	}
	for len(work) > 0 {
		slot := work[len(work)-1]
		work = work[:len(work)-1]
		i := bySlot[slot]
		ins := insns[i]
		s := states[slot].clone()
		class := ins.Class()
		switch {
		case class == isa.ClassLDX && s.regs[ins.Src].isCtx:
			s.regs[ins.Dst] = ctxState{}
		case class == isa.ClassLDX && ins.Src == isa.R10 && ins.OpCode&0x18 == isa.SizeDW:
			s.regs[ins.Dst] = s.stack[ins.Offset]
		case (class == isa.ClassST || class == isa.ClassSTX) && s.regs[ins.Dst].isCtx:
			if r, ok := isa.WrittenRegister(ins); ok {
				s.regs[r] = ctxState{}
			}
		case class == isa.ClassSTX && ins.Dst == isa.R10:
			if ins.OpCode&0x18 == isa.SizeDW && ins.OpCode&0xe0 == isa.ModeMEM {
				s.stack[ins.Offset] = s.regs[ins.Src]
			} else {
				clobberStack(s, ins.Offset)
				if r, ok := isa.WrittenRegister(ins); ok {
					s.regs[r] = ctxState{}
				}
			}
		case class == isa.ClassST && ins.Dst == isa.R10:
			clobberStack(s, ins.Offset)
		case class == isa.ClassALU64 && ins.OpCode&0xf0 == isa.AluMov && ins.OpCode&isa.SrcX != 0 && ins.Offset == 0:
			s.regs[ins.Dst] = s.regs[ins.Src]
		case class == isa.ClassALU64 && ins.OpCode&0xf0 == isa.AluAdd && ins.OpCode&isa.SrcX == 0 && s.regs[ins.Dst].isCtx:
			s.regs[ins.Dst].off += int(ins.Imm())
		case ins.OpCode == isa.OpCall || ins.OpCode == isa.OpCallX:
			for r := isa.R0; r <= isa.R5; r++ {
				s.regs[r] = ctxState{}
			}
			if ins.IsLocalCall() {
				// Context pointers passed to bpf-to-bpf functions are not followed yet.
				push(slot+1+ins.JumpOffset(), &frameState{stack: map[int16]ctxState{}})
			}
		default:
			if r, ok := isa.WrittenRegister(ins); ok {
				s.regs[r] = ctxState{}
			}
		}
		next := slot + ins.Slots()
		switch {
		case ins.IsExit():
		case ins.OpCode == isa.OpJA || ins.OpCode == isa.OpJA32:
			push(slot+1+ins.JumpOffset(), s)
		case ins.IsJump():
			push(slot+1+ins.JumpOffset(), s)
			push(next, s)
		default:
			push(next, s)
		}
	}
	// Rewrite with the fixed point: every access through ctx must be through ctx on
	// every path, at one offset.
	for i := range out {
		ins, slot := insns[i], offs[i]
		var base isa.Register
		switch ins.Class() {
		case isa.ClassLDX:
			base = ins.Src
		case isa.ClassST, isa.ClassSTX:
			base = ins.Dst
		default:
			continue
		}
		if states[slot] == nil || everCtx[slot]&(1<<base) == 0 {
			continue
		}
		st := states[slot].regs[base]
		if !st.isCtx {
			return nil, fmt.Errorf("%w: instruction %d (%s) uses r%d, which holds the context on some paths and something else (or another offset) on others", ErrContextAccess, slot, ins, base)
		}
		off, size := st.off+int(ins.Offset), isa.SizeBytes(ins.OpCode&0x18)
		f, ok := c.Field(off, size)
		switch {
		case !ok || ins.OpCode&0xe0 != isa.ModeMEM:
			return nil, fmt.Errorf("%w: instruction %d (%s) accesses %d bytes at offset %d of %s, which is no field", ErrContextAccess, slot, ins, size, off, c.Name)
		case ins.Class() != isa.ClassLDX && !f.Writable:
			return nil, fmt.Errorf("%w: instruction %d (%s) writes %s.%s, which is read-only", ErrContextAccess, slot, ins, c.Name, f.Name)
		case ins.Class() != isa.ClassLDX && size < f.MinWrite:
			return nil, fmt.Errorf("%w: instruction %d (%s) writes %d bytes of %s.%s, which takes stores of %d bytes or more", ErrContextAccess, slot, ins, size, c.Name, f.Name, f.MinWrite)
		case f.Kind == SocketPointer:
			return nil, fmt.Errorf("%w: instruction %d (%s) loads %s.%s: %w: there is no kernel socket behind the context", ErrContextAccess, slot, ins, c.Name, f.Name, ErrNotSupported)
		}
		out[i] = realAccess(ins, f, st.off)
	}
	return out, nil
}

func clobberStack(s *frameState, off int16) {
	for k := range s.stack {
		if k > off-8 && k < off+8 {
			delete(s.stack, k)
		}
	}
}

// realAccess turns an access of field f (through a register holding ctx+regOff) into the
// access of the runtime's layout.
func realAccess(ins isa.Instruction, f *Field, regOff int) isa.Instruction {
	size := map[int]uint8{1: isa.SizeB, 2: isa.SizeH, 4: isa.SizeW, 8: isa.SizeDW}[f.RealSize]
	ins.OpCode = ins.OpCode&^0x18 | size
	ins.Offset = int16(f.RealOffset - regOff)
	return ins
}

// PacketWritable reports whether programs of type t may write into their packet through
// a packet pointer (or let a helper write into it). As in Linux, cgroup skb, lwt in/out
// and seg6local, sk_reuseport, flow dissector and sock_ops programs only read theirs; so
// do BIND and PROCESS programs, whose spans are the caller's. Other types that have a
// packet may write it.
func PacketWritable(t Type) bool {
	switch t {
	case CgroupSKB, LWTIn, LWTOut, LWTSeg6local, SKReuseport, FlowDissector, SockOps, SocketFilter, Bind, Process:
		return false
	}
	return true
}

// BindMD holds the fields of a bind_md that the bind hook fills in; the runtime sets the
// application id span pointers when it runs the program.
type BindMD struct {
	ProcessID uint64
	// SocketAddress is the address bound: a struct sockaddr_in, or the first 16 bytes of
	// a struct sockaddr_in6 (family, port, flow info, the address's first half), with
	// Linux's family numbers; SocketAddressLength is the caller's address length.
	SocketAddress       [16]byte
	SocketAddressLength uint8
	Operation           uint32 // 0 bind, 1 post-bind, 2 unbind
	Protocol            uint8  // IPPROTO_TCP or IPPROTO_UDP
}

// Encode returns m as a bind_md (BindContext.RealSize bytes) with zero span pointers,
// the form Program.Run takes as its Context.
func (m BindMD) Encode() []byte {
	b := make([]byte, BindContext.RealSize)
	binary.LittleEndian.PutUint64(b[16:], m.ProcessID)
	copy(b[24:40], m.SocketAddress[:])
	b[40] = m.SocketAddressLength
	binary.LittleEndian.PutUint32(b[44:], m.Operation)
	b[48] = m.Protocol
	return b
}

// DecodeBindMD reads the fields of a bind_md a program ran on (what it may have
// rewritten: the socket address).
func DecodeBindMD(b []byte) (BindMD, error) {
	if len(b) < BindContext.RealSize {
		return BindMD{}, fmt.Errorf("bind_md of %d bytes, want %d", len(b), BindContext.RealSize)
	}
	m := BindMD{ProcessID: binary.LittleEndian.Uint64(b[16:]), SocketAddressLength: b[40], Operation: binary.LittleEndian.Uint32(b[44:]), Protocol: b[48]}
	copy(m.SocketAddress[:], b[24:40])
	return m, nil
}

// ProcessMD holds the fields of a process_md that the hook reporting a process fills in;
// the runtime sets the span pointers (command line, image path) when it runs the program.
type ProcessMD struct {
	ProcessID, ParentProcessID, CreatingProcessID, CreatingThreadID uint64
	CreationTime, ExitTime                                          uint64 // CLOCK_MONOTONIC ns
	ExitCode                                                        uint32
	Operation                                                       uint8 // 0 create, 1 delete
}

// Encode returns m as a process_md (ProcessContext.RealSize bytes) with zero span
// pointers, the form Program.Run takes as its Context.
func (m ProcessMD) Encode() []byte {
	b := make([]byte, ProcessContext.RealSize)
	put := binary.LittleEndian.PutUint64
	put(b[16:], m.ProcessID)
	put(b[24:], m.ParentProcessID)
	put(b[32:], m.CreatingProcessID)
	put(b[40:], m.CreatingThreadID)
	put(b[48:], m.CreationTime)
	put(b[56:], m.ExitTime)
	binary.LittleEndian.PutUint32(b[64:], m.ExitCode)
	b[68] = m.Operation
	return b
}
