/* Board services of the bare-metal port. The defaults in board.c are enough to link and run
 * the test image (flash simulated where it is writable); a real board overrides the weak
 * functions with its HAL (flash driver, UART, modem / Wi-Fi MQTT client). */
#ifndef WF_BOARD_H
#define WF_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "wf/status.h"

uint64_t wf_board_time_us(void);
void wf_board_console(const char *text, size_t len);
/* Flash: erase whole sectors, program erased cells. @return WF_OK or WF_STORAGE_ERROR. */
wf_status_t wf_board_flash_erase(uint32_t addr, uint32_t len);
wf_status_t wf_board_flash_program(uint32_t addr, const uint8_t *data, uint32_t len);
/* Transport: publish under wf/v1/dev/{id}/{suffix}. */
wf_status_t wf_board_publish(const char *suffix, const uint8_t *payload, size_t len, uint8_t qos,
                             int retain);
#endif
