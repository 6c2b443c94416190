/*
 * Thin C shim over Debian's libsimavr 1.6 (libsimavr-dev). Rust only sees the opaque `sim_t`
 * and the functions below, so it never depends on simavr's struct layouts.
 *
 * What it adds to plain simavr, and why (details in the prototype notes this grew from):
 *  - no wall-clock sleeping: simavr's default sleep callback usleep()s to real time while the
 *    firmware idles, and the UART's POLL_SLEEP flag usleep()s on every UCSRnA read;
 *  - a cycle timer at every run target, so a sleeping core (which jumps straight to the next
 *    cycle timer) stops exactly where the next stimulus belongs (see stop_marker);
 *  - a fix for simavr 1.6's UART frame length (it always counts a parity bit: 11 bits for 8N1,
 *    which would make the simulated MIDI line 10 % slower than the real one);
 *  - pins driven through AVR_IOCTL_IOPORT_SET_EXTERNAL so that a PORTx write (pull-ups) does
 *    not "release" a pressed button;
 *  - a log of every UART1 byte with the cycle at which the firmware wrote UDR1, and of the LED;
 *  - a profile of the interrupt handlers (cycles from vector to reti) and of the longest stretch
 *    the main loop ran with interrupts disabled;
 *  - the stack high-water mark (free RAM is painted before reset).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

#include <sim_avr.h>
#include <sim_elf.h>
#include <sim_io.h>
#include <sim_irq.h>
#include <sim_cycle_timers.h>
#include <avr_ioport.h>
#include <avr_uart.h>
#include <avr_timer.h>

#define LOG_MAX (1u << 20)
#define NVEC 43
#define PAINT 0xA5

typedef struct sim_t {
	avr_t *avr;
	elf_firmware_t fw;
	uint8_t *tx_bytes;
	uint64_t *tx_cycles;
	size_t tx_count;
	uint64_t *led_cycles;
	uint8_t *led_levels;
	size_t led_count;
	int led_level;
	uint8_t ext_mask[8], ext_val[8];
	avr_uart_t *uart1;
	/* interrupt profile */
	int in_isr, isr_vec;
	uint64_t isr_start;
	uint16_t isr_sp;
	uint64_t isr_max[NVEC], isr_count[NVEC], isr_last[NVEC];
	uint64_t cli_start, cli_max;
	int cli_open;
	uint16_t paint_from;
} sim_t;

static int g_log_level = LOG_ERROR;
static void quiet_logger(avr_t *avr, const int level, const char *format, va_list ap)
{
	(void)avr;
	if (level <= g_log_level)
		vfprintf(stderr, format, ap);
}

static void sleep_noop(avr_t *avr, avr_cycle_count_t howLong)
{
	(void)avr; (void)howLong;
}

static void uart_out_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq;
	sim_t *s = (sim_t *)param;
	if (s->tx_count < LOG_MAX) {
		s->tx_bytes[s->tx_count] = (uint8_t)value;
		s->tx_cycles[s->tx_count] = s->avr->cycle;
		s->tx_count++;
	}
}

static void led_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq;
	sim_t *s = (sim_t *)param;
	int v = value ? 1 : 0;
	if (v == s->led_level)
		return;
	s->led_level = v;
	if (s->led_count < LOG_MAX) {
		s->led_levels[s->led_count] = (uint8_t)v;
		s->led_cycles[s->led_count] = s->avr->cycle;
		s->led_count++;
	}
}

/* simavr 1.6 computes cycles_per_byte with a parity bit always counted; recompute it after
 * every write of the registers it depends on (our hooks run after simavr's own). */
static void uart_recompute(sim_t *s)
{
	avr_t *avr = s->avr;
	avr_uart_t *p = s->uart1;
	if (!p)
		return;
	uint32_t ubrr = avr_regbit_get(avr, p->ubrrl) | (avr_regbit_get(avr, p->ubrrh) << 8);
	static const int databits[] = { 5, 6, 7, 8, 8, 8, 8, 9 };
	int db = databits[avr_regbit_get(avr, p->ucsz) | (avr_regbit_get(avr, p->ucsz2) << 2)];
	int sb = 1 + avr_regbit_get(avr, p->usbs);
	int parity = (avr->data[p->r_ucsrc] >> 5) & 1;
	uint32_t cpb = (ubrr + 1) * (avr_regbit_get(avr, p->u2x) ? 8 : 16);
	p->cycles_per_byte = cpb * (1 + db + parity + sb);
}

static void uart_reg_write_hook(struct avr_t *avr, avr_io_addr_t addr, uint8_t v, void *param)
{
	(void)avr; (void)addr; (void)v;
	uart_recompute((sim_t *)param);
}

static void uart_ucsrc_write(struct avr_t *avr, avr_io_addr_t addr, uint8_t v, void *param)
{
	avr_core_watch_write(avr, addr, v); /* the only handler for UCSRnC: store the value */
	uart_recompute((sim_t *)param);
}

static avr_uart_t *find_uart(avr_t *avr, char name)
{
	for (avr_io_t *io = avr->io_port; io; io = io->next)
		if (io->irq_ioctl_get == (uint32_t)AVR_IOCTL_UART_GETIRQ(name))
			return (avr_uart_t *)io;
	return NULL;
}

static uint16_t sp_get(avr_t *avr)
{
	return avr->data[0x5D] | (avr->data[0x5E] << 8);
}

/* ------------------------------------------------------------------------------------------ */

sim_t *sim_new(const char *elf_path, uint32_t freq)
{
	const char *lv = getenv("SIMAVR_LOG");
	if (lv) g_log_level = atoi(lv);
	avr_global_logger_set(quiet_logger);

	sim_t *s = calloc(1, sizeof(*s));
	if (elf_read_firmware(elf_path, &s->fw) != 0) {
		fprintf(stderr, "shim: elf_read_firmware(%s) failed\n", elf_path);
		free(s);
		return NULL;
	}
	/* The Rust ELF has no .mmcu section: set the part and clock here. */
	strncpy(s->fw.mmcu, "atmega32u4", sizeof(s->fw.mmcu) - 1);
	s->fw.frequency = freq;
	s->avr = avr_make_mcu_by_name(s->fw.mmcu);
	if (!s->avr) {
		free(s);
		return NULL;
	}
	avr_init(s->avr);
	avr_load_firmware(s->avr, &s->fw);
	s->avr->frequency = freq;
	s->avr->sleep = sleep_noop;
	s->avr->log = LOG_ERROR;

	s->tx_bytes = malloc(LOG_MAX);
	s->tx_cycles = malloc(LOG_MAX * sizeof(uint64_t));
	s->led_levels = malloc(LOG_MAX);
	s->led_cycles = malloc(LOG_MAX * sizeof(uint64_t));

	uint32_t flags = 0; /* no POLL_SLEEP, no STDIO */
	avr_ioctl(s->avr, AVR_IOCTL_UART_SET_FLAGS('1'), &flags);
	avr_irq_register_notify(avr_io_getirq(s->avr, AVR_IOCTL_UART_GETIRQ('1'), UART_IRQ_OUTPUT),
			uart_out_hook, s);
	avr_irq_register_notify(avr_io_getirq(s->avr, AVR_IOCTL_IOPORT_GETIRQ('D'), 6), led_hook, s);

	s->uart1 = find_uart(s->avr, '1');
	if (s->uart1) {
		avr_register_io_write(s->avr, s->uart1->ubrrl.reg, uart_reg_write_hook, s);
		avr_register_io_write(s->avr, s->uart1->r_ucsra, uart_reg_write_hook, s);
		avr_register_io_write(s->avr, s->uart1->r_ucsrc, uart_ucsrc_write, s);
	}
	return s;
}

/* Paint the RAM above the static data (before the first instruction runs) so that the stack
 * high-water mark can be found later. */
void sim_paint(sim_t *s, uint16_t from)
{
	s->paint_from = from;
	for (uint32_t a = from; a <= s->avr->ramend; a++)
		s->avr->data[a] = PAINT;
}

void sim_free(sim_t *s)
{
	if (!s) return;
	avr_terminate(s->avr);
	free(s->tx_bytes);
	free(s->tx_cycles);
	free(s->led_levels);
	free(s->led_cycles);
	free(s);
}

uint64_t sim_cycle(const sim_t *s) { return s->avr->cycle; }
uint32_t sim_pc(const sim_t *s) { return s->avr->pc; }
uint16_t sim_ramend(const sim_t *s) { return s->avr->ramend; }

/* The run target. One-shot, except when the core has just gone to sleep: simavr processes the
 * timers due and then jumps a sleeping core to the *next* timer (up to 1000 cycles past the
 * target), so a stimulus meant for the target would land late. Rescheduled one cycle on, the
 * marker stops the jump; the next sim_run_until replaces it. */
static avr_cycle_count_t stop_marker(struct avr_t *avr, avr_cycle_count_t when, void *param)
{
	(void)param;
	return avr->state == cpu_Sleeping ? when + 1 : 0;
}

static void profile_step(sim_t *s)
{
	avr_t *avr = s->avr;
	uint32_t pc = avr->pc;
	if (!s->in_isr) {
		/* simavr pushes the return address and jumps to vector * 4 (jmp table, 32u4). */
		if (pc > 0 && pc < NVEC * 4 && (pc & 3) == 0 && !avr->sreg[S_I]) {
			s->in_isr = 1;
			s->isr_vec = pc / 4;
			s->isr_start = avr->cycle;
			s->isr_sp = sp_get(avr) + 2;
			s->isr_last[s->isr_vec] = avr->cycle;
			if (s->cli_open) {
				s->cli_open = 0; /* an interrupt was taken: interrupts were on */
			}
			return;
		}
		int off = !avr->sreg[S_I] && avr->state == cpu_Running;
		if (off && !s->cli_open) {
			s->cli_open = 1;
			s->cli_start = avr->cycle;
		} else if (!off && s->cli_open) {
			s->cli_open = 0;
			uint64_t d = avr->cycle - s->cli_start;
			if (d > s->cli_max)
				s->cli_max = d;
		}
	} else if (sp_get(avr) >= s->isr_sp) {
		uint64_t d = avr->cycle - s->isr_start;
		if (d > s->isr_max[s->isr_vec])
			s->isr_max[s->isr_vec] = d;
		s->isr_count[s->isr_vec]++;
		s->in_isr = 0;
	}
}

/* Run until avr->cycle >= target; returns the cpu state (6 = done, 7 = crashed). */
int sim_run_until(sim_t *s, uint64_t target, int profile)
{
	avr_t *avr = s->avr;
	int st = avr->state;
	if (target > avr->cycle)
		avr_cycle_timer_register(avr, target - avr->cycle, stop_marker, s);
	while (avr->cycle < target) {
		st = avr_run(avr);
		if (st == cpu_Done || st == cpu_Crashed)
			break;
		if (profile)
			profile_step(s);
	}
	return st;
}

/* Drive a pin from outside (a source or a button to ground); see the header comment. */
void sim_set_pin(sim_t *s, char port, int pin, int level)
{
	int i = port - 'A';
	s->ext_mask[i] |= (1 << pin);
	if (level) s->ext_val[i] |= (1 << pin);
	else s->ext_val[i] &= ~(1 << pin);
	avr_ioport_external_t e = { .name = port, .mask = s->ext_mask[i], .value = s->ext_val[i] };
	avr_ioctl(s->avr, AVR_IOCTL_IOPORT_SET_EXTERNAL(port), &e);
	avr_raise_irq(avr_io_getirq(s->avr, AVR_IOCTL_IOPORT_GETIRQ(port), pin), level ? 1 : 0);
}

/* One byte into UART1 RX at its start bit (simavr raises RXC one frame later, like hardware). */
void sim_uart_push(sim_t *s, uint8_t b)
{
	avr_raise_irq(avr_io_getirq(s->avr, AVR_IOCTL_UART_GETIRQ('1'), UART_IRQ_INPUT), b);
}

size_t sim_tx_count(const sim_t *s) { return s->tx_count; }
void sim_tx_get(const sim_t *s, size_t i, uint8_t *b, uint64_t *c)
{
	*b = s->tx_bytes[i];
	*c = s->tx_cycles[i];
}
size_t sim_led_count(const sim_t *s) { return s->led_count; }
void sim_led_get(const sim_t *s, size_t i, uint8_t *l, uint64_t *c)
{
	*l = s->led_levels[i];
	*c = s->led_cycles[i];
}

uint8_t sim_read_data(const sim_t *s, uint16_t addr)
{
	if (addr > s->avr->ramend) return 0;
	return s->avr->data[addr];
}

/* Paint again below the current stack pointer: the high-water mark from here on. */
void sim_repaint(sim_t *s)
{
	uint16_t sp = sp_get(s->avr);
	for (uint32_t a = s->paint_from; a <= sp; a++)
		s->avr->data[a] = PAINT;
}

void sim_write_data(sim_t *s, uint16_t addr, uint8_t v)
{
	if (addr <= s->avr->ramend)
		s->avr->data[addr] = v;
}

/* Lowest RAM address the stack reached (first byte above paint_from that is not paint). */
uint16_t sim_stack_low(const sim_t *s)
{
	uint32_t a = s->paint_from;
	while (a <= s->avr->ramend && s->avr->data[a] == PAINT)
		a++;
	return (uint16_t)a;
}

void sim_isr_profile(const sim_t *s, uint64_t *max, uint64_t *count, uint64_t *cli_max)
{
	for (int i = 0; i < NVEC; i++) {
		max[i] = s->isr_max[i];
		count[i] = s->isr_count[i];
	}
	*cli_max = s->cli_max;
}

/* Cycle at which vector `vec` was last entered (with profiling on), 0 if never. */
uint64_t sim_isr_last(const sim_t *s, int vec)
{
	return (vec >= 0 && vec < NVEC) ? s->isr_last[vec] : 0;
}

int sim_symbol(const sim_t *s, const char *name, uint32_t *addr)
{
#if ELF_SYMBOLS
	for (uint32_t i = 0; i < s->fw.symbolcount; i++)
		if (!strcmp(s->fw.symbol[i]->symbol, name)) {
			*addr = s->fw.symbol[i]->addr;
			return 0;
		}
#endif
	return -1;
}
