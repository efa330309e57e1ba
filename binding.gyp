{
  "variables": { "roce_asan%": 0 },
  "target_defaults": {
    "sources": ["native/addon.cc", "native/crc.cc", "native/placement.cc", "native/sockio.cc"],
    "cflags_cc": ["-O2", "-fno-exceptions", "-Wall", "-Wextra"]
  },
  "targets": [
    {
      "target_name": "roce_udp",
      "conditions": [["OS!='linux'", { "type": "none", "sources": [] }]]
    },
    {
      "target_name": "roce_udp_asan",
      "cflags_cc": ["-g", "-O1", "-fsanitize=address", "-fno-omit-frame-pointer"],
      "ldflags": ["-fsanitize=address"],
      "conditions": [["OS!='linux' or roce_asan!=1", { "type": "none", "sources": [] }]]
    }
  ]
}
