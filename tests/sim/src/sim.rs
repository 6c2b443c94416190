//! Safe wrapper over `csrc/shim.c` (which wraps Debian's libsimavr 1.6).

use std::ffi::{c_char, c_int, CString};

#[repr(C)]
struct SimT {
    _private: [u8; 0],
}

extern "C" {
    fn sim_new(elf: *const c_char, freq: u32) -> *mut SimT;
    fn sim_paint(s: *mut SimT, from: u16);
    fn sim_free(s: *mut SimT);
    fn sim_cycle(s: *const SimT) -> u64;
    fn sim_pc(s: *const SimT) -> u32;
    fn sim_ramend(s: *const SimT) -> u16;
    fn sim_run_until(s: *mut SimT, target: u64, profile: c_int) -> c_int;
    fn sim_set_pin(s: *mut SimT, port: c_char, pin: c_int, level: c_int);
    fn sim_uart_push(s: *mut SimT, b: u8);
    fn sim_tx_count(s: *const SimT) -> usize;
    fn sim_tx_get(s: *const SimT, i: usize, b: *mut u8, c: *mut u64);
    fn sim_led_count(s: *const SimT) -> usize;
    fn sim_led_get(s: *const SimT, i: usize, l: *mut u8, c: *mut u64);
    fn sim_read_data(s: *const SimT, addr: u16) -> u8;
    fn sim_write_data(s: *mut SimT, addr: u16, v: u8);
    fn sim_stack_low(s: *const SimT) -> u16;
    fn sim_repaint(s: *mut SimT);
    fn sim_isr_profile(s: *const SimT, max: *mut u64, count: *mut u64, cli_max: *mut u64);
    fn sim_symbol(s: *const SimT, name: *const c_char, addr: *mut u32) -> c_int;
    fn sim_isr_last(s: *const SimT, vec: c_int) -> u64;
}

/// CPU clock of the Teensy 2.0.
pub const F_CPU: u64 = 16_000_000;
/// Interrupt vectors of the ATmega32U4.
pub const NVEC: usize = 43;

/// One simulated ATmega32U4 running a firmware ELF.
pub struct Sim {
    p: *mut SimT,
    pub profile: bool,
}

// SAFETY: a Sim owns its avr_t exclusively; simavr keeps no thread-local state.
unsafe impl Send for Sim {}

impl Drop for Sim {
    fn drop(&mut self) {
        unsafe { sim_free(self.p) }
    }
}

impl Sim {
    pub fn new(elf: &str) -> Sim {
        let e = CString::new(elf).unwrap();
        let p = unsafe { sim_new(e.as_ptr(), F_CPU as u32) };
        assert!(!p.is_null(), "simavr could not load {elf}");
        let s = Sim { p, profile: false };
        // Paint everything above the static data (`_end`: the end of .noinit).
        let end = s
            .data_symbol("_end")
            .or_else(|| s.data_symbol("__bss_end"))
            .expect("no _end symbol in the ELF");
        unsafe { sim_paint(s.p, end) };
        s
    }
    pub fn cycle(&self) -> u64 {
        unsafe { sim_cycle(self.p) }
    }
    pub fn ramend(&self) -> u16 {
        unsafe { sim_ramend(self.p) }
    }
    /// Run until `target` (cycles); panics if the core crashed.
    pub fn run_until(&mut self, target: u64) {
        let st = unsafe { sim_run_until(self.p, target, self.profile as c_int) };
        assert!(
            st != 6 && st != 7,
            "AVR core stopped (state {st}) at pc {:#x}",
            unsafe { sim_pc(self.p) }
        );
    }
    pub fn set_pin(&mut self, port: char, pin: u8, level: bool) {
        unsafe { sim_set_pin(self.p, port as c_char, pin as c_int, level as c_int) }
    }
    pub fn uart_push(&mut self, b: u8) {
        unsafe { sim_uart_push(self.p, b) }
    }
    /// Every byte written to UDR1: (byte, cycle).
    pub fn tx(&self) -> Vec<(u8, u64)> {
        let n = unsafe { sim_tx_count(self.p) };
        (0..n)
            .map(|i| {
                let (mut b, mut c) = (0u8, 0u64);
                unsafe { sim_tx_get(self.p, i, &mut b, &mut c) };
                (b, c)
            })
            .collect()
    }
    /// LED (PD6) level changes: (level, cycle).
    pub fn led(&self) -> Vec<(bool, u64)> {
        let n = unsafe { sim_led_count(self.p) };
        (0..n)
            .map(|i| {
                let (mut l, mut c) = (0u8, 0u64);
                unsafe { sim_led_get(self.p, i, &mut l, &mut c) };
                (l != 0, c)
            })
            .collect()
    }
    pub fn read_u8(&self, addr: u16) -> u8 {
        unsafe { sim_read_data(self.p, addr) }
    }
    pub fn write_u16(&mut self, addr: u16, v: u16) {
        unsafe {
            sim_write_data(self.p, addr, v as u8);
            sim_write_data(self.p, addr + 1, (v >> 8) as u8);
        }
    }
    pub fn read_u16(&self, addr: u16) -> u16 {
        self.read_u8(addr) as u16 | (self.read_u8(addr + 1) as u16) << 8
    }
    /// Deepest stack use so far, in bytes.
    pub fn stack_depth(&self) -> u16 {
        let low = unsafe { sim_stack_low(self.p) };
        self.ramend().saturating_sub(low) + 1
    }
    /// Restart the stack high-water mark from the current stack pointer.
    pub fn repaint(&mut self) {
        unsafe { sim_repaint(self.p) }
    }
    /// Per-vector longest handler (cycles, vector entry to return), calls, and the longest
    /// stretch the main loop ran with interrupts disabled.
    pub fn isr_profile(&self) -> ([u64; NVEC], [u64; NVEC], u64) {
        let (mut m, mut c, mut cli) = ([0u64; NVEC], [0u64; NVEC], 0u64);
        unsafe { sim_isr_profile(self.p, m.as_mut_ptr(), c.as_mut_ptr(), &mut cli) };
        (m, c, cli)
    }
    /// Cycle at which interrupt vector `vec` was last entered (profiling on), 0 if never.
    pub fn isr_last(&self, vec: usize) -> u64 {
        unsafe { sim_isr_last(self.p, vec as c_int) }
    }
    /// Data-space address of an ELF symbol.
    pub fn data_symbol(&self, name: &str) -> Option<u16> {
        let n = CString::new(name).unwrap();
        let mut a = 0u32;
        let r = unsafe { sim_symbol(self.p, n.as_ptr(), &mut a) };
        (r == 0).then_some((a & 0xFFFF) as u16)
    }
}
