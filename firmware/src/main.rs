//! Tactus for the Teensy 2.0 (ATmega32U4 at 16 MHz): a CV clock in, MIDI clock out, with a
//! start/stop button and a MIDI thru merge. All musical logic is `tactus-core`'s; this crate is
//! drivers and scheduling. See the README for the wiring, and `app.rs` for how the clock bytes
//! are timed.
#![no_std]
#![no_main]
#![feature(abi_avr_interrupt, asm_experimental_arch)]

mod app;
mod hw;

use core::mem::MaybeUninit;

/// The main loop's state. In a static (not on the stack) so that `avr-size` counts it.
static mut APP: MaybeUninit<app::App> = MaybeUninit::uninit();

/// Set when a panic reset the chip (kept across the watchdog reset; for the simulator tests).
#[no_mangle]
#[link_section = ".noinit"]
pub static mut FW_PANICS: u8 = 0;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // tactus-core is panic-free by design; should a bounds check ever fire, restart cleanly
    // (watchdog reset after 16 ms) instead of hanging with the MIDI line in an unknown state.
    avr_device::interrupt::disable();
    // SAFETY: interrupts are off; plain byte write and the timed watchdog sequence.
    unsafe {
        let p = core::ptr::addr_of_mut!(FW_PANICS);
        p.write_volatile(p.read_volatile().wrapping_add(1));
        let wdt = &*avr_device::atmega32u4::WDT::ptr();
        wdt.wdtcsr().write(|w| w.bits(0x18));
        wdt.wdtcsr().write(|w| w.bits(0x08));
    }
    loop {}
}

/// Build the main loop's state in its static. Out of line, so that the temporaries of the
/// construction do not stay in `main`'s stack frame for ever.
#[inline(never)]
fn boot_app(pinb: u8) -> &'static mut app::App {
    // SAFETY: the only reference to APP, created once, before interrupts are enabled; no
    // handler touches it.
    unsafe { (*core::ptr::addr_of_mut!(APP)).write(app::App::new(hw::now(), pinb)) }
}

#[avr_device::entry]
fn main() -> ! {
    hw::init();
    // Let the pull-ups settle before reading the PPQN switches.
    avr_device::asm::delay_cycles(1_600);
    let app = boot_app(hw::portb().pinb().read().bits());
    // SAFETY: all handlers and the state they share are initialised.
    unsafe { avr_device::interrupt::enable() };
    loop {
        app.step();
    }
}
