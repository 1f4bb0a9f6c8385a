// What a reply or a transport failure means, and when to try again: plain functions over plain
// data, so that the whole table is unit-tested without a server. client.cpp only moves bytes.
namespace toucan {}
