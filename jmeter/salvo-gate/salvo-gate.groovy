io.salvo.jmeter.StartGate.install()
