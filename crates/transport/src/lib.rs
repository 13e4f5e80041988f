//! TCP / Unix transports on smol (placeholder: the runtime issue fills this in).
