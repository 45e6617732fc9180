#ifndef SODIUM_PSI_CSODIUM_SHIM_H
#define SODIUM_PSI_CSODIUM_SHIM_H
#include <sodium.h>
#endif
