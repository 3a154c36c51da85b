// A sensor for a myonion gateway (the mqtt-bridge template) on an ESP32 (Arduino core 2.x/3.x):
// every READING_EVERY_MS it publishes a JSON reading over MQTT with TLS (PubSubClient over
// WiFiClientSecure), or PUTs it to the gateway's HTTPS door (USE_HTTP), checked against the
// gateway's own CA, which is pinned below: a gateway without that CA's certificate is refused.
//
// Fill in (nothing secret is shipped here):
//   - WIFI_SSID / WIFI_PASSWORD: your network;
//   - GATEWAY_HOST: one of the names or addresses of the gateway's certificate (`myonion secrets
//     gateway` prints the CA; the names are lan_tls_names, or the Pi's host name and addresses);
//   - DEVICE_ID and DEVICE_SECRET: the device's line of `myonion secrets gateway`;
//   - GATEWAY_CA: the PEM of `myonion secrets gateway --ca-file ca.crt` (check its SHA-256
//     fingerprint against the one `myonion secrets gateway` shows).
// Libraries: PubSubClient (Nick O'Leary) for MQTT; WiFi, WiFiClientSecure, HTTPClient come with
// the ESP32 core.

#include <WiFi.h>
#include <WiFiClientSecure.h>
#include <PubSubClient.h>
#include <HTTPClient.h>
#include <time.h>

// #define USE_HTTP                       // PUT to lan_http_port instead of MQTT

const char* WIFI_SSID = "";
const char* WIFI_PASSWORD = "";
const char* GATEWAY_HOST = "pi.local";
const uint16_t MQTT_PORT = 8883;          // the gateway's lan_port
const uint16_t HTTP_PORT = 8443;          // the gateway's lan_http_port
const char* DEVICE_ID = "kitchen";
const char* DEVICE_SECRET = "";           // from `myonion secrets gateway`
const char* TOPIC_PREFIX = "readings";
const unsigned long READING_EVERY_MS = 30000;

// the gateway's CA (from `myonion secrets gateway --ca-file ca.crt`)
const char* GATEWAY_CA = R"PEM(
-----BEGIN CERTIFICATE-----
paste the CA certificate here
-----END CERTIFICATE-----
)PEM";

WiFiClientSecure tls;
PubSubClient mqtt(tls);
float temperature = 21.0;
unsigned long seq = 0;

void connectWifi() {
  WiFi.mode(WIFI_STA);
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  while (WiFi.status() != WL_CONNECTED) {
    delay(500);
  }
  // certificates have validity dates: the clock must be right before TLS
  configTime(0, 0, "pool.ntp.org");
  time_t now = time(nullptr);
  while (now < 1700000000) {
    delay(500);
    now = time(nullptr);
  }
}

String reading() {
  temperature += (random(-30, 31)) / 100.0;  // a made-up sensor: put yours here
  seq++;
  return String("{\"temp\":") + String(temperature, 2) + ",\"seq\":" + String(seq) + "}";
}

#ifndef USE_HTTP
void connectMqtt() {
  while (!mqtt.connected()) {
    // the user name is the device's id: the gateway lets it publish on its own topic only
    if (!mqtt.connect(DEVICE_ID, DEVICE_ID, DEVICE_SECRET)) {
      Serial.printf("MQTT connect failed (state %d); again in 5 s\n", mqtt.state());
      delay(5000);
    }
  }
}
#endif

void setup() {
  Serial.begin(115200);
  connectWifi();
  tls.setCACert(GATEWAY_CA);  // only the gateway's CA is trusted
#ifndef USE_HTTP
  mqtt.setServer(GATEWAY_HOST, MQTT_PORT);
  mqtt.setBufferSize(512);
#endif
}

void loop() {
  static unsigned long last = 0;
#ifndef USE_HTTP
  connectMqtt();
  mqtt.loop();
#endif
  if (last != 0 && millis() - last < READING_EVERY_MS) {
    return;
  }
  last = millis();
  String body = reading();
#ifdef USE_HTTP
  HTTPClient http;
  String url = String("https://") + GATEWAY_HOST + ":" + HTTP_PORT + "/api/v1/readings/" +
               DEVICE_ID;
  http.begin(tls, url);
  http.addHeader("Content-Type", "application/json");
  http.addHeader("Authorization", String("Bearer ") + DEVICE_SECRET);
  int status = http.PUT(body);
  Serial.printf("PUT %s: %d\n", body.c_str(), status);  // 202: queued by the gateway
  http.end();
#else
  String topic = String(TOPIC_PREFIX) + "/" + DEVICE_ID;
  bool ok = mqtt.publish(topic.c_str(), body.c_str());
  Serial.printf("publish %s: %s\n", body.c_str(), ok ? "sent" : "failed");
#endif
}
