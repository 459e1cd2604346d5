/** Files imported as text (`with { type: "text" }`): the page's stylesheet and its bundled script. */
declare module "*.css" {
  const text: string;
  export default text;
}
declare module "*.txt" {
  const text: string;
  export default text;
}
