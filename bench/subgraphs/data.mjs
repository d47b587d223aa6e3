// Static data of the four bench subgraphs (same facts as The Guild's public gateways
// benchmark: 6 users, 9 products, 11 reviews with long bodies).

const LOREM =
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.";
const SED_UT =
  "Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium, totam rem aperiam, eaque ipsa quae ab illo inventore veritatis et quasi architecto beatae vitae dicta sunt explicabo. Nemo enim ipsam voluptatem quia voluptas sit aspernatur aut odit aut fugi";
const SED_QUIA =
  "sed quia consequuntur magni dolores eos qui ratione voluptatem sequi nesciunt. Neque porro quisquam est, qui dolorem ipsum quia dolor sit amet, consectetur, adipisci velit, sed quia non numquam eius modi tempora incidunt ut labore et dolore magnam aliquam quaerat voluptatem.";
const UT_ENIM =
  "Ut enim ad minima veniam, quis nostrum exercitationem ullam corporis suscipit laboriosam, nisi ut aliquid ex ea commodi consequatur? Quis autem";
const AT_VERO =
  "At vero eos et accusamus et iusto odio dignissimos ducimus qui blanditiis praesentium voluptatum deleniti atque corrupti quos dolores et quas molestias excepturi sint occaecati cupiditate non provident, similique sunt in culpa qui officia deserunt mollitia animi, id est laborum et dolorum fuga. Et harum quidem rerum facilis est et expedita distinctio. Nam libero tempore, cum soluta nobis est eligendi optio cumque nihil impedit quo minus id quod maxime placeat facere possimus, omnis voluptas assumenda est, omnis dolor repellendus. Temporibus autem quibusdam et aut officiis debitis aut rerum necessitatibus saepe eveniet ut et voluptates repudiandae sint et molestiae non recusandae. Itaque earum rerum hic tenetur a sapiente delectus, ut aut reiciendis voluptatibus maiores alias consequatur aut perferendis doloribus asperiores repellat.";

export const users = [
  ["1", "Uri Goldshtein", "urigo"],
  ["2", "Dotan Simha", "dotansimha"],
  ["3", "Kamil Kisiela", "kamilkisiela"],
  ["4", "Arda Tanrikulu", "ardatan"],
  ["5", "Gil Gardosh", "gilgardosh"],
  ["6", "Laurin Quast", "laurin"],
].map(([id, name, username]) => ({ id, name, username, birthday: 1234567890 }));

// upc, name, price, weight (products subgraph) and inStock (inventory subgraph)
export const products = [
  ["1", "Table", 899, 100, true],
  ["2", "Couch", 1299, 1000, false],
  ["3", "Glass", 15, 20, false],
  ["4", "Chair", 499, 100, false],
  ["5", "TV", 1299, 1000, true],
  ["6", "Lamp", 6999, 300, true],
  ["7", "Grill", 3999, 2000, true],
  ["8", "Fridge", 100000, 6000, false],
  ["9", "Sofa", 9999, 800, true],
].map(([upc, name, price, weight, inStock]) => ({ upc, name, price, weight, inStock }));

export const reviews = [
  ["1", LOREM, "1"],
  ["2", SED_UT, "1"],
  ["3", SED_QUIA, "1"],
  ["4", UT_ENIM, "1"],
  ["5", LOREM, "2"],
  ["6", SED_UT, "2"],
  ["7", SED_QUIA, "2"],
  ["8", UT_ENIM, "2"],
  ["9", UT_ENIM, "3"],
  ["10", UT_ENIM, "4"],
  ["11", AT_VERO, "4"],
].map(([id, body, upc]) => ({ id, body, upc }));
