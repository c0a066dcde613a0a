import { BlockList, isIP } from 'node:net';

type Family = 'ipv4' | 'ipv6';

/** The family of an IP literal; a zone id (`fe80::1%eth0`) makes it no literal here. */
function familyOf(text: string): Family | undefined {
  if (text.includes('%')) return undefined;
  const version = isIP(text);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : undefined;
}

/** A test of address strings for a CIDR block (`10.0.0.0/24`, `2001:db8::/32`, or one address); undefined when invalid. */
export function cidrMatcher(text: string): ((address: string) => boolean) | undefined {
  const [address = '', bits, ...rest] = text.split('/');
  const family = familyOf(address);
  const width = family === 'ipv4' ? 32 : 128;
  if (!family || rest.length > 0 || (bits !== undefined && !/^\d+$/.test(bits)) || Number(bits ?? width) > width) return undefined;
  const block = new BlockList();
  block.addSubnet(address, Number(bits ?? width), family);
  // BlockList would match an IPv4-mapped IPv6 address against an IPv4 block; the pattern keeps the families apart.
  return (candidate) => familyOf(candidate) === family && block.check(candidate, family);
}
