/* Cortex-M4 startup, SysTick time base and weak board services for the test image. */
#include "board.h"

#include <string.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CPACR (*(volatile uint32_t *)0xE000ED88u)
#define CORE_HZ 16000000u /* reset clock of an STM32F4; a real port sets up its PLL */

static volatile uint64_t ms_ticks;

void SysTick_Handler(void);
void SysTick_Handler(void) { ms_ticks++; }

void Reset_Handler(void);
void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) { *dst++ = *src++; }
    for (dst = &_sbss; dst < &_ebss;) { *dst++ = 0; }
    CPACR |= (0xFu << 20); /* FPU on: the interpreter's f32/f64 ops and sensor_read use it */
    SYST_RVR = CORE_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u;
    (void)main();
    for (;;) {}
}

static void default_handler(void) { for (;;) {} }

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, 0, 0, 0, 0,
    default_handler, default_handler, 0, default_handler, SysTick_Handler,
};

uint64_t wf_board_time_us(void) { return ms_ticks * 1000u; }

#ifdef WF_BOARD_QEMU
/* ARM semihosting (QEMU -semihosting): SYS_WRITE0 prints, SYS_EXIT ends the run. */
static int semihost(int op, void *arg)
{
    register int r0 __asm("r0") = op;
    register void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void wf_board_console(const char *text, size_t len)
{
    char buf[129];
    while (len > 0u) {
        size_t n = len < 128u ? len : 128u;
        memcpy(buf, text, n);
        buf[n] = '\0';
        (void)semihost(0x04, buf);
        text += n;
        len -= n;
    }
}

void wf_board_exit(int code)
{
    uint32_t block[2] = {0x20026u, (uint32_t)code}; /* ADP_Stopped_ApplicationExit */
    (void)semihost(0x20, block);                    /* SYS_EXIT_EXTENDED */
    (void)semihost(0x18, (void *)(uintptr_t)0x20026u);
    for (;;) {}
}
#else
/* Console: a RAM ring a debugger can read; a real board writes its UART. */
static char console[512];
static size_t console_pos;

__attribute__((weak)) void wf_board_console(const char *text, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        console[console_pos++ % sizeof console] = text[i];
    }
}
#endif

/* Flash defaults for simulators whose "flash" is writable memory. A real board replaces
 * these with its flash controller driver (erase sectors, program words). */
__attribute__((weak)) wf_status_t wf_board_flash_erase(uint32_t addr, uint32_t len)
{
    memset((void *)(uintptr_t)addr, 0xff, len);
    return WF_OK;
}

__attribute__((weak)) wf_status_t wf_board_flash_program(uint32_t addr, const uint8_t *data, uint32_t len)
{
    memcpy((void *)(uintptr_t)addr, data, len);
    return WF_OK;
}

__attribute__((weak)) wf_status_t wf_board_publish(const char *suffix, const uint8_t *payload,
                                                   size_t len, uint8_t qos, int retain)
{
    (void)suffix; (void)payload; (void)len; (void)qos; (void)retain;
    return WF_TRANSPORT_ERROR; /* no link in the test image */
}
