//! Parsed, validated INI configuration of servers and clients (seed formats).
