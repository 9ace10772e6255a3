// Visma.BusinessModel: Visma's table numbers (a few; the driver takes numbers from redhorn's dictionary).
namespace Visma.BusinessModel
{
    public enum T : long { Product = 114, Order = 127, OrderLine = 128, Associate = 152 }
}
