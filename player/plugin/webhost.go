package plugin

import _ "embed" // WebHostJS

// WebHostJS is the browser's plugin host, an ES module (webhost.js):
// loadPlugin(bytes, rate, channels, params) runs a plugin with the
// browser's WebAssembly engine, providing the same WASI functions as this
// package and the same call sequence, so its output equals the native
// host's bit for bit. The web player serves it next to its own code.
//
//go:embed webhost.js
var WebHostJS string
