/** UDP services' readers (udppm, dnspr) and the 'udp' relay they share. */
import './relay';
import './udppm';
import './dnspr';
