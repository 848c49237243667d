"""The one place that knows which array library holds the data, and on which device.

``namespaces``: an array's namespace (``array_module``) and dtypes across libraries.
``devices``: ``Device``, ``device(...)``, and moving arrays between devices.
``shims``: what the array API standard lacks (scatter-add, random numbers, error state,
writing into an array), one small shim per backend.
"""

from .devices import CPU, Device, as_device, device, device_of, mixed_devices, to_device, to_host
from .namespaces import (NUMPY1_PROMOTION, array_module, as_array, dtype_in, host_dtype, is_array,
                         keep_dtype_of_arrays, kind)

__all__ = ["CPU", "NUMPY1_PROMOTION", "Device", "array_module", "as_array", "as_device", "device",
           "device_of", "dtype_in", "host_dtype", "is_array", "keep_dtype_of_arrays", "kind",
           "mixed_devices", "to_device", "to_host"]
