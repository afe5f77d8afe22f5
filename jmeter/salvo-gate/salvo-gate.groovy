// JMeter start-up script (property jsr223.init.file). The gate normally installs itself earlier, as a
// function service (io.salvo.jmeter.GateInstaller); install() is idempotent and a no-op without SALVO_GATE_SOCKET.
io.salvo.jmeter.StartGate.install()
